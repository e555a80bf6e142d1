import { Metadata, status } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorFromStatus, errorToStatus } from '../src/errors-grpc.js';
import { REASONS, isReason } from '../src/error-reasons.js';
import { createError, EaisError, InternalError, InvalidArgumentError, PermissionDeniedError } from '../src/errors.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');

describe('error catalog', () => {
  it('should document every reason in docs/errors.md and the README, under its status', () => {
    for (const [reason, entry] of Object.entries(REASONS)) {
      expect(doc, reason).toContain(`\`${reason}\``);
      expect(readme, reason).toContain(`\`${reason}\``);
      const row = readme.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${reason}\``));
      expect(row, reason).toContain(status[entry.code]);
    }
  });

  it('should not document reasons that do not exist', () => {
    const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(new Set(documented).size).toBe(documented.length);
    expect(documented.sort()).toEqual(Object.keys(REASONS).sort());
  });

  it('should have reasons in SCREAMING_SNAKE_CASE with a one-line summary', () => {
    for (const [reason, entry] of Object.entries(REASONS)) {
      expect(reason).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(entry.summary).toMatch(/^[A-Z].*\.$/);
      expect(isReason(reason)).toBe(true);
    }
    expect(isReason('NOPE')).toBe(false);
  });
});

describe('EaisError', () => {
  it('should build the class of the reason status', () => {
    const err = createError('WRONG_DTYPE', 'bad', { requestId: 'r', slotId: 's' });
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'WRONG_DTYPE', requestId: 'r', slotId: 's', codeName: 'INVALID_ARGUMENT' });
    expect(createError('TOKEN_REVOKED', 'x')).toBeInstanceOf(PermissionDeniedError);
  });

  it('should normalize foreign errors to INTERNAL and keep the cause off the message', () => {
    const cause = new Error('secret path /var/lib/x');
    const err = EaisError.from(cause, { requestId: 'r1' });
    expect(err).toBeInstanceOf(InternalError);
    expect(err.message).not.toContain('/var/lib/x');
    expect(err.cause).toBe(cause);
    expect(err.requestId).toBe('r1');
  });

  it('should survive a trip through a gRPC status', () => {
    const original = createError('SLOT_MEMORY_EXCEEDED', 'too big', { requestId: 'r2', slotId: 'eais-1' });
    const wire = errorToStatus(original);
    const back = errorFromStatus({ code: wire.code, details: wire.details, metadata: wire.metadata });
    expect(back.constructor).toBe(original.constructor);
    expect(back).toMatchObject({ code: original.code, reason: original.reason, message: 'too big', requestId: 'r2', slotId: 'eais-1' });
  });

  it('should give transport statuses a default reason and the caller a hint', () => {
    const err = errorFromStatus({ code: status.UNAVAILABLE, details: 'connect ECONNREFUSED', metadata: new Metadata() }, {}, () => 'start the daemon');
    expect(err).toMatchObject({ reason: 'UNAVAILABLE', message: 'start the daemon' });
    expect(errorFromStatus({ code: status.DATA_LOSS, details: 'x' }).reason).toBe('INTERNAL');
  });
});
