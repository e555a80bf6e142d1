import { describe, expect, it } from 'vitest';
import { loadDefinition, warmProtoCodecs } from '../src/index.js';
import { messageSample } from '../src/proto.js';

interface MessageType {
  readonly name: string;
  readonly field?: readonly unknown[];
}

interface Codecs {
  requestSerialize(value: unknown): Buffer;
  requestDeserialize(bytes: Buffer): unknown;
  responseSerialize(value: unknown): Buffer;
  responseDeserialize(bytes: Buffer): unknown;
}

describe('warmProtoCodecs', () => {
  it('should run every method of every service and leave their codecs decoding what they encode', () => {
    warmProtoCodecs();
    const definition = loadDefinition();
    const accelerator = definition['eais.v1.Accelerator'] as unknown as Record<string, Codecs>;
    const load = accelerator.LoadModel!;
    const response = {
      model: { name: 'm', sha256: 'a'.repeat(64), engine: 'ort', device: 'cpu', inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 3, 48, -1] }] },
    };
    const back = load.responseDeserialize(load.responseSerialize(response)) as { model: { name: string; inputs: { shape: number[] }[] } };
    expect(back.model.name).toBe('m');
    expect(back.model.inputs[0]!.shape).toEqual([1, 3, 48, -1]);
    const request = load.requestDeserialize(load.requestSerialize({ sha256: 'b'.repeat(64), name: 'n', batching: { mode: 'on', max_batch_size: 8 } }));
    expect(request).toMatchObject({ name: 'n', batching: { mode: 'on', max_batch_size: 8 } });
    // Warming again is harmless (a daemon and an agent in one process both may).
    expect(() => warmProtoCodecs()).not.toThrow();
  });
});

describe('messageSample', () => {
  it('should fill every request and response type of every service (what warmProtoCodecs runs)', () => {
    const definition = loadDefinition();
    let types = 0;
    for (const [name, service] of Object.entries(definition)) {
      if ('format' in service) continue;
      const pkg = name.split('.').slice(0, -1).join('.');
      for (const method of Object.values(service as unknown as Record<string, { requestType: { type: MessageType }; responseType: { type: MessageType } }>)) {
        for (const { type } of [method.requestType, method.responseType]) {
          if ((type.field ?? []).length === 0) continue;
          types += 1;
          expect(Object.keys(messageSample(`${pkg}.${type.name}`)).length, `${pkg}.${type.name}`).toBeGreaterThan(0);
        }
      }
    }
    expect(types).toBeGreaterThan(20);
  });

  it('should set every field, nested messages and those named from another package included', () => {
    const sample = messageSample('eais.v1.LoadModelResponse') as { model: Record<string, unknown> };
    expect(sample.model).toMatchObject({ name: 'x', skipped: [{ engine: 'x' }], inputs: [{ name: 'x', shape: [1], dim_names: ['x'] }] });
    const infer = messageSample('inference.ModelInferRequest') as { inputs: { parameters: Record<string, unknown> }[] };
    expect(Object.keys(infer.inputs[0]!.parameters)).toEqual(['1']);
  });
});
