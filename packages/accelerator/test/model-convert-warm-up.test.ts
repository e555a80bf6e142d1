// The conversion thread's warm-up model converts (a failure would leave every first
// conversion to compile the converter during a user's load, silently).

import { describe, expect, it } from 'vitest';
import { warmUpConverter } from '../src/store/model-convert-warm-up.js';

describe('warmUpConverter', () => {
  it('should convert its model without throwing', () => {
    expect(() => warmUpConverter()).not.toThrow();
  });
});
