// FLOP counter of TF.js layers (Keras) models: walks the Keras topology in model.json,
// inferring each layer's output shape from its config (channels-last).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CounterInput, FlopCounter } from './flops-counter.js';
import { evaluateLayer, type Config } from './flops-keras-layers.js';
import { modelTopology, readKerasTopology, tensorKey } from './flops-keras-topology.js';
import { numel } from './flops-shapes.js';
import { FlopTally, lastReaders } from './flops-tally.js';

/** Reads a TF.js layers model's model.json and returns its FLOP counter. */
export async function kerasFlopCounter(folder: string): Promise<FlopCounter> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as { modelTopology: Config };
  const { layers, inputs: modelInputs } = readKerasTopology(modelTopology(json));
  const inputs: CounterInput[] = modelInputs.map(({ name, shape }) => ({ name, shape: shape.map((d, i) => d ?? `d${i}`) }));
  const inputKeys = modelInputs.map((i) => i.key);

  const calls = layers.flatMap((layer) => layer.calls.map((call) => ({ inputs: call })));
  const last = lastReaders(calls);

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, number[]>();
      const tally = new FlopTally();
      inputs.forEach((input, i) => {
        const shape = shapes[input.name];
        if (shape === undefined) throw new Error(`no shape for input "${input.name}"`);
        env.set(inputKeys[i] as string, [...shape]);
        tally.hold(inputKeys[i] as string, numel(shape), 'float32');
      });
      let index = -1;
      for (const layer of layers) {
        for (const [node, call] of layer.calls.entries()) {
          index += 1;
          if (layer.className === 'InputLayer') continue;
          const ins = call.map((k) => {
            const shape = env.get(k);
            if (shape === undefined) throw new Error(`${layer.name} reads ${k}, which nothing produced`);
            return shape;
          });
          const out = evaluateLayer(layer, ins, tally);
          env.set(tensorKey(layer.name, node, 0), out);
          tally.hold(tensorKey(layer.name, node, 0), numel(out), 'float32');
          for (const k of call) if (last.get(k) === index) tally.release(k);
        }
      }
      return tally.total;
    },
  };
}
