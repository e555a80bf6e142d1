// The CLI's flags: the one options table every command parses, and what flags resolve to
// (endpoints, security), with the usage error and the printer the commands share.

import { parseArgs } from 'node:util';
import { defaultEndpoint } from './client.js';
import type { SecurityOptions } from './security.js';

export const OPTIONS = {
  endpoint: { type: 'string', multiple: true },
  'tls-ca': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  'bind-file': { type: 'string' },
  'instance-id': { type: 'string' },
  region: { type: 'string' },
  zone: { type: 'string' },
  slot: { type: 'string' },
  lease: { type: 'string' },
  input: { type: 'string', multiple: true },
  inputs: { type: 'string' },
  output: { type: 'string', multiple: true },
  'output-dir': { type: 'string' },
  name: { type: 'string' },
  deadline: { type: 'string' },
  vcpu: { type: 'string' },
  memory: { type: 'string' },
  gpus: { type: 'string' },
  'fp32-tflops': { type: 'string' },
  'fp16-tflops': { type: 'string' },
  'gpu-memory': { type: 'string' },
  'eai-id': { type: 'string', multiple: true },
  state: { type: 'string' },
  type: { type: 'string' },
  'page-size': { type: 'string' },
  'page-token': { type: 'string' },
  all: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** The parsed flags. */
export type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** A command used wrongly: exit code 2; `usage`, when given, is printed after the message. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/** Prints `text`, or `value` as JSON with --json (one line when `compact`: tensors are long). */
export function print(json: boolean, value: unknown, text: string, compact = false): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, compact ? undefined : 2)}\n` : text);
}

/**
 * Every daemon the --endpoint flags name (repeated, or comma-separated in one), else
 * EAIS_ENDPOINT's (commas allowed there too), else the default one.
 */
export function endpointsOf(values: Values): string[] {
  const given = values.endpoint ?? [defaultEndpoint()];
  const endpoints = given.flatMap((e) => e.split(',')).map((e) => e.trim());
  if (endpoints.some((e) => e === '')) throw new UsageError(`--endpoint "${given.join(',')}" has an empty entry; write host:port[,host:port…]`);
  return endpoints;
}

/** The one daemon a command other than `eais eai …` talks to; a UsageError when several are named. */
export function oneEndpoint(values: Values, command: string): string {
  const endpoints = endpointsOf(values);
  if (endpoints.length > 1) throw new UsageError(`eais ${command} talks to one daemon, but --endpoint names ${endpoints.length} (${endpoints.join(', ')}); several are for the eais eai commands`);
  return endpoints[0] as string;
}

/** The security options of the flags (the environment fills in what they leave out). */
export function security(values: Values): SecurityOptions {
  const given = values['tls-ca'] !== undefined || values['tls-cert'] !== undefined || values['tls-server-name'] !== undefined;
  return {
    ...(given ? { tls: { ca: values['tls-ca'], cert: values['tls-cert'], key: values['tls-key'], serverName: values['tls-server-name'] } } : {}),
    ...(values.key === undefined ? {} : { key: values.key }),
  };
}
