// Config parsing helpers: durations and byte sizes as people write them in flags and env.

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * Parses a duration such as `500ms`, `30s`, `10m`, `1h` (a bare number is milliseconds)
 * into milliseconds. Throws an Error quoting `what` and the text when it is not one.
 */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i.exec(text.trim());
  const unit = DURATION_UNITS[(match?.[2] ?? 'ms').toLowerCase()];
  if (match === null || unit === undefined) {
    throw new Error(`${what}: "${text}" is not a duration; write e.g. 500ms, 30s, 10m or 1h`);
  }
  return Math.round(Number(match[1]) * unit);
}

/**
 * Parses a size such as `512MiB`, `16GiB`, `4GB` or a bare number of bytes. Throws an
 * Error quoting `what` and the text when it is not one.
 */
export function parseBytes(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i.exec(text.trim());
  const unit = BYTE_UNITS[(match?.[2] ?? 'b').toLowerCase()];
  if (match === null || unit === undefined) {
    throw new Error(`${what}: "${text}" is not a size; write e.g. 1048576, 512MiB or 16GiB`);
  }
  return Math.round(Number(match[1]) * unit);
}

/** Formats bytes for people: `10.3 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
