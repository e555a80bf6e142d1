// Region catalog: where slots and client instances live; a bind needs the same region.

/** A region and its zones. */
export interface Region {
  readonly id: string;
  readonly name: string;
  readonly zones: readonly string[];
}

/** The regions eais knows, with their zones; the first zone is a region's default. */
export const REGIONS: readonly Region[] = [
  { id: 'cn-beijing', name: 'China (Beijing)', zones: ['cn-beijing-h', 'cn-beijing-g', 'cn-beijing-i', 'cn-beijing-k', 'cn-beijing-l'] },
  { id: 'cn-hangzhou', name: 'China (Hangzhou)', zones: ['cn-hangzhou-h', 'cn-hangzhou-i', 'cn-hangzhou-j', 'cn-hangzhou-k'] },
  { id: 'cn-shanghai', name: 'China (Shanghai)', zones: ['cn-shanghai-l', 'cn-shanghai-m', 'cn-shanghai-n', 'cn-shanghai-e'] },
  { id: 'cn-shenzhen', name: 'China (Shenzhen)', zones: ['cn-shenzhen-d', 'cn-shenzhen-e', 'cn-shenzhen-f'] },
  { id: 'cn-chengdu', name: 'China (Chengdu)', zones: ['cn-chengdu-a', 'cn-chengdu-b'] },
];

/** The region a daemon and an agent use when none is configured. */
export const DEFAULT_REGION = 'cn-hangzhou';

/** The region with that id, or undefined. */
export function findRegion(id: string): Region | undefined {
  return REGIONS.find((r) => r.id === id);
}
