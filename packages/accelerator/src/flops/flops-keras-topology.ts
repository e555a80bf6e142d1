// Keras topologies as a TF.js layers model.json holds them (Sequential and functional, Keras 2
// and Keras 3 call forms): the layers, the tensors each call reads, the model's inputs and outputs.

import type { Config, Layer } from './flops-keras-layers.js';

/** The key of one tensor: output `tensor` of call `node` of `layer`. */
export const tensorKey = (layer: string, node: number, tensor: number): string => `${layer}:${node}:${tensor}`;

/** The Keras classes of a model used as a layer of another. */
export const NESTED_MODELS: ReadonlySet<string> = new Set(['Sequential', 'Model', 'Functional']);

/** One input of a topology: the name TF.js gives it, its batch shape (null where free) and dtype. */
export interface KerasInput {
  readonly name: string;
  readonly key: string;
  readonly shape: readonly (number | null)[];
  readonly dtype: string;
}

/** A topology as the counter and the converter walk it. */
export interface KerasTopology {
  readonly sequential: boolean;
  /** In model.json's order (Keras writes them so that a layer follows its inputs). */
  readonly layers: readonly Layer[];
  readonly inputs: readonly KerasInput[];
  /** The output tensors' keys, and the names TF.js gives them (the layers' names). */
  readonly outputs: readonly { readonly name: string; readonly key: string }[];
}

/**
 * The node index of a layer's first call as other layers refer to it: 1 for a nested model
 * built on its own input (that build is its node 0, which Keras and TF.js do not save), else 0.
 */
export function firstNode(layer: Layer): number {
  if (!NESTED_MODELS.has(layer.className)) return 0;
  return readKerasTopology({ class_name: layer.className, config: layer.config }).inputs.every((i) => i.shape.length > 0) ? 1 : 0;
}

/** Reads a call's inputs in the Keras 2 (`[name, node, tensor, kwargs]`) or Keras 3 (`keras_history`) form. */
function callInputs(node: unknown): string[] {
  const out: string[] = [];
  const visit = (item: unknown): void => {
    if (Array.isArray(item)) {
      if (typeof item[0] === 'string' && typeof item[1] === 'number' && typeof item[2] === 'number') {
        out.push(tensorKey(item[0], item[1], item[2]));
        return;
      }
      item.forEach(visit);
      return;
    }
    if (item !== null && typeof item === 'object') {
      const history = ((item as Config).config as Config | undefined)?.keras_history;
      if (Array.isArray(history)) {
        out.push(tensorKey(history[0] as string, history[1] as number, history[2] as number));
        return;
      }
      const args = (item as Config).args;
      if (args !== undefined) visit(args);
    }
  };
  visit(node);
  return out;
}

const layerName = (l: Config): string => (l.name as string | undefined) ?? ((l.config as Config).name as string);

/** A layer's batch input shape (Keras 2 `batch_input_shape`, Keras 3 `batch_shape`). */
function batchShape(config: Config | undefined): (number | null)[] {
  return ((config?.batch_input_shape ?? config?.batch_shape) as (number | null)[] | undefined) ?? [];
}

const dtypeOf = (config: Config | undefined): string => (typeof config?.dtype === 'string' ? config.dtype : 'float32');

/** The Keras topology of a layers model.json (`modelTopology`, with or without `model_config`). */
export function modelTopology(json: { modelTopology: Config }): Config {
  return (json.modelTopology.model_config ?? json.modelTopology) as Config;
}

/**
 * Reads a topology (`{ class_name, config }`, the model's or a nested model's). A Sequential
 * model without an InputLayer reads its input from one that Keras and TF.js add and name after
 * the first layer (`dense_input`); the TF.js engine reports that name (see engine-tfjs.ts).
 */
export function readKerasTopology(topology: Config): KerasTopology {
  const config = topology.config as Config | Config[];
  const rawLayers = (Array.isArray(config) ? config : (config.layers as Config[])) ?? [];
  const sequential = topology.class_name === 'Sequential';
  const layers: Layer[] = rawLayers.map((l, i) => {
    const previous = i === 0 ? undefined : layerName(rawLayers[i - 1] as Config);
    const calls = sequential ? [previous === undefined ? [] : [tensorKey(previous, 0, 0)]] : ((l.inbound_nodes as unknown[]) ?? []).map(callInputs);
    return { name: layerName(l), className: l.class_name as string, config: l.config as Config, calls: calls.length === 0 ? [[]] : calls };
  });
  const first = layers[0];
  if (!sequential) {
    const named = (list: unknown) => (list as [string, number, number][]).map(([name, node, tensor]) => ({ name, key: tensorKey(name, node, tensor) }));
    const inputs = named((config as Config).input_layers).map(({ name, key }) => {
      const layer = layers.find((l) => l.name === name);
      return { name, key, shape: batchShape(layer?.config), dtype: dtypeOf(layer?.config) };
    });
    return { sequential, layers, inputs, outputs: named((config as Config).output_layers) };
  }
  const inputName = first?.className === 'InputLayer' ? first.name : `${first?.name ?? ''}_input`;
  const input = { name: inputName, key: tensorKey(inputName, 0, 0), shape: batchShape(first?.config), dtype: dtypeOf(first?.config) };
  // Without an InputLayer, the first layer reads the input Keras added.
  if (first !== undefined && first.className !== 'InputLayer') first.calls[0] = [input.key];
  const last = layers[layers.length - 1];
  return { sequential, layers, inputs: [input], outputs: last === undefined ? [] : [{ name: last.name, key: tensorKey(last.name, 0, 0) }] };
}
