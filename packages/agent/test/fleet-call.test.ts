import { describe, expect, it } from 'vitest';
import { ownerEndpoint } from '../src/fleet-call.js';

describe('ownerEndpoint', () => {
  it('should dial the owner with grpcs:// when the fleet was reached with grpcs://', () => {
    expect(ownerEndpoint('10.0.0.6:50051', ['grpcs://10.0.0.5:50051'])).toBe('grpcs://10.0.0.6:50051');
    expect(ownerEndpoint('10.0.0.6:50051', ['10.0.0.4:50051', 'grpcs://10.0.0.5'])).toBe('grpcs://10.0.0.6:50051');
  });

  it('should leave the address as listed otherwise, and a scheme the fleet lists alone', () => {
    expect(ownerEndpoint('10.0.0.6:50051', ['10.0.0.5:50051'])).toBe('10.0.0.6:50051');
    expect(ownerEndpoint('10.0.0.6:50051', ['grpc://10.0.0.5:50051'])).toBe('10.0.0.6:50051');
    expect(ownerEndpoint('grpc://10.0.0.6:50051', ['grpcs://10.0.0.5:50051'])).toBe('grpc://10.0.0.6:50051');
    expect(ownerEndpoint('[::1]:50051', ['grpcs://[::1]:50052'])).toBe('grpcs://[::1]:50051');
  });
});
