// Vitest globalSetup: builds the test model folders once, before any test file starts a
// daemon or attaches, so no test does that heavy work while it holds a lease.

import { buildTestModels } from './helpers/tf-models.js';

export default async function setup(): Promise<void> {
  const started = performance.now();
  const folders = await buildTestModels();
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 1) process.stdout.write(`built ${folders.length} test model folders in ${seconds.toFixed(1)} s (cached for later runs)\n`);
}
