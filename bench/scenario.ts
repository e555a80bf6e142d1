// What a benchmark scenario is: a function of the bench context to tables, data, charts and targets.

import type { TopLevelSpec } from 'vega-lite';
import type { Machine } from './machine.js';

/** A goal from the performance issue, and whether this run met it. */
export interface Target {
  readonly name: string;
  readonly goal: string;
  readonly measured: string;
  readonly met: boolean;
  /** Where a target is missed: by how much and why. */
  readonly why?: string | undefined;
}

export interface Chart {
  readonly file: string;
  readonly title: string;
  readonly spec: TopLevelSpec;
}

/** A table beyond a scenario's first. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

export interface ScenarioResult {
  readonly name: string;
  readonly title: string;
  /** What was measured and how (Markdown). */
  readonly description: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
  /** More tables, after the first (a scenario that measures two things). */
  readonly tables?: readonly Table[] | undefined;
  /** Every measurement, for the JSON file. */
  readonly data: readonly Record<string, unknown>[];
  readonly targets: readonly Target[];
  readonly charts: readonly Chart[];
}

export interface BenchContext {
  readonly machine: Machine;
  readonly quick: boolean;
  /** How many times each A/B comparison is repeated (min and median are reported). */
  readonly repeats: number;
  log(line: string): void;
}

export type Scenario = (context: BenchContext) => Promise<ScenarioResult>;

/** Formats a number for tables. */
export function fmt(value: number, digits = 2): string {
  if (!Number.isFinite(value)) return '–';
  return Math.abs(value) >= 1000 ? value.toFixed(0) : value.toFixed(digits);
}
