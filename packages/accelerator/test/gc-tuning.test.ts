// The daemon's garbage-collection setting: chosen by the daemon unless the operator set it.

import { describe, expect, it } from 'vitest';
import { tuneGarbageCollection } from '../src/gc-tuning.js';

describe('tuneGarbageCollection', () => {
  it('leaves incremental marking alone when the operator set it', () => {
    expect(tuneGarbageCollection(['--incremental-marking'])).toMatch(/operator/);
    expect(tuneGarbageCollection(['--max-old-space-size=512', '--no_incremental_marking'])).toMatch(/operator/);
  });
});
