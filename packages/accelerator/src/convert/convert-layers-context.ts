// What a Keras layer rule sees while converting one call of its layer: the layer and its
// config, the call's input values, the layer's weights and the graph builder; and the TF op
// rules of the graph converter, which a layer rule lowers to as TF.js's own layers do.

import type { Config, Layer } from '../flops/flops-keras-layers.js';
import type { TfAttr } from '../flops/flops-tf-graph.js';
import type { GraphBuilder } from './convert-builder.js';
import type { OpContext } from './convert-context.js';
import { CONVERT_OPS } from './convert-ops.js';
import { ConvertError, type TfValue } from './convert-value.js';

/** One call of a layer being converted. */
export interface LayerContext {
  readonly layer: Layer;
  /** The layer's config. */
  readonly c: Config;
  /** The call's input values, in order. */
  readonly ins: readonly TfValue[];
  /** Its first input. */
  readonly x: TfValue;
  readonly b: GraphBuilder;
  /** The layer's weight of this Keras name (`kernel`, `bias`, `moving_mean`), or a ConvertError. */
  weight(name: string): TfValue;
  /** Adds a note to the conversion's result. */
  note(text: string): void;
  /**
   * Says the ONNX computes this call otherwise than TF.js does (and why): a note, and an entry
   * of the result's `differsFromTfjs`, by which a caller may keep the model on TF.js.
   */
  differs(text: string): void;
}

/** One Keras layer class: the output of a call. */
export type LayerRule = (k: LayerContext) => TfValue;

/** Fails for a feature of a layer the converter leaves out. */
export function layerUnsupported(k: LayerContext, feature: string): never {
  throw new ConvertError([`${k.layer.className} (${feature})`], `${k.layer.className} ${k.layer.name}: ${feature} is not converted`);
}

/** TF attributes as model.json writes them, for {@link tfOp}. */
export const attr = {
  ints: (values: readonly number[]): TfAttr => ({ list: { i: [...values] } }),
  text: (value: string): TfAttr => ({ s: Buffer.from(value, 'utf8').toString('base64') }),
  bool: (value: boolean): TfAttr => ({ b: value }),
};

/** Runs the graph converter's rule for one TF op on `ins`, as a node named after the layer. */
export function tfOp(k: LayerContext, op: string, ins: readonly TfValue[], attrs: Record<string, TfAttr> = {}): TfValue {
  const rule = CONVERT_OPS.get(op);
  if (rule === undefined) throw new ConvertError([op], `the converter has no rule for the TF op ${op} that ${k.layer.className} lowers to`);
  const context: OpContext = { node: { name: k.layer.name, op, attr: attrs }, attr: attrs, ins, x: ins[0] as TfValue, b: k.b };
  return rule(context)[0] as TfValue;
}

/** The rank of the first input, which the rule needs known. */
export function rankOf(k: LayerContext): number {
  const rank = k.x.shape?.length;
  if (rank === undefined) layerUnsupported(k, 'an input of unknown rank');
  return rank;
}

/** Whether the layer's data_format is channels_last (the default), or a ConvertError for another. */
export function channelsLast(k: LayerContext): boolean {
  const format = k.c.data_format ?? 'channels_last';
  if (format !== 'channels_last' && format !== 'channels_first') layerUnsupported(k, `data_format ${String(format)}`);
  return format === 'channels_last';
}
