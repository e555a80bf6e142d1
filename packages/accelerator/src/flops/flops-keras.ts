// FLOP counter of TF.js layers (Keras) models: walks the Keras topology in model.json,
// inferring each layer's output shape from its config (channels-last).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CounterInput, FlopCounter } from './flops-counter.js';
import { evaluateLayer, type Config, type Layer } from './flops-keras-layers.js';
import { numel } from './flops-shapes.js';
import { FlopTally, lastReaders } from './flops-tally.js';

const key = (layer: string, node: number, tensor: number): string => `${layer}:${node}:${tensor}`;

/** Reads a call's inputs in the Keras 2 (`[name, node, tensor, kwargs]`) or Keras 3 (`keras_history`) form. */
function callInputs(node: unknown): string[] {
  const out: string[] = [];
  const visit = (item: unknown): void => {
    if (Array.isArray(item)) {
      if (typeof item[0] === 'string' && typeof item[1] === 'number' && typeof item[2] === 'number') {
        out.push(key(item[0], item[1], item[2]));
        return;
      }
      item.forEach(visit);
      return;
    }
    if (item !== null && typeof item === 'object') {
      const history = ((item as Config).config as Config | undefined)?.keras_history;
      if (Array.isArray(history)) {
        out.push(key(history[0] as string, history[1] as number, history[2] as number));
        return;
      }
      const args = (item as Config).args;
      if (args !== undefined) visit(args);
    }
  };
  visit(node);
  return out;
}

/** Reads a TF.js layers model's model.json and returns its FLOP counter. */
export async function kerasFlopCounter(folder: string): Promise<FlopCounter> {
  const json = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as { modelTopology: Config };
  const topology = (json.modelTopology.model_config ?? json.modelTopology) as Config;
  const config = topology.config as Config | Config[];
  const rawLayers = (Array.isArray(config) ? config : (config.layers as Config[])) ?? [];
  const sequential = topology.class_name === 'Sequential';
  const layers: Layer[] = rawLayers.map((l, i) => {
    const cfg = l.config as Config;
    const name = (l.name as string | undefined) ?? (cfg.name as string);
    const previous = i === 0 ? undefined : ((rawLayers[i - 1]!.name as string | undefined) ?? ((rawLayers[i - 1]!.config as Config).name as string));
    const calls = sequential ? [previous === undefined ? [] : [key(previous, 0, 0)]] : ((l.inbound_nodes as unknown[]) ?? []).map(callInputs);
    return { name, className: l.class_name as string, config: cfg, calls: calls.length === 0 ? [[]] : calls };
  });
  const firstConfig = layers[0]?.config;
  // A Sequential model without an InputLayer reads its input from one that Keras and TF.js
  // add and name after the first layer; the engine reports that name (see engine-tfjs.ts).
  const sequentialInput = layers[0]?.className === 'InputLayer' ? layers[0].name : `${layers[0]?.name ?? ''}_input`;
  const inputs: CounterInput[] = sequential
    ? [{ name: sequentialInput, shape: ((firstConfig?.batch_input_shape as (number | null)[]) ?? []).map((d, i) => d ?? `d${i}`) }]
    : ((config as Config).input_layers as [string, number, number][]).map(([name]) => {
        const layer = layers.find((l) => l.name === name);
        return { name, shape: ((layer?.config.batch_input_shape as (number | null)[]) ?? []).map((d, i) => d ?? `d${i}`) };
      });
  if (sequential && layers[0]?.className !== 'InputLayer') {
    // A Sequential model without an InputLayer: its first layer reads the model input.
    layers[0]!.calls[0] = [key(sequentialInput, 0, 0)];
  }

  const calls = layers.flatMap((layer) => layer.calls.map((call) => ({ inputs: call })));
  const last = lastReaders(calls);

  return {
    inputs,
    count(shapes) {
      const env = new Map<string, number[]>();
      for (const input of inputs) {
        const shape = shapes[input.name];
        if (shape === undefined) throw new Error(`no shape for input "${input.name}"`);
        env.set(key(input.name, 0, 0), [...shape]);
      }
      const tally = new FlopTally();
      for (const input of inputs) tally.hold(key(input.name, 0, 0), numel(shapes[input.name] as readonly number[]), 'float32');
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
          env.set(key(layer.name, node, 0), out);
          tally.hold(key(layer.name, node, 0), numel(out), 'float32');
          for (const k of call) if (last.get(k) === index) tally.release(k);
        }
      }
      return tally.total;
    },
  };
}
