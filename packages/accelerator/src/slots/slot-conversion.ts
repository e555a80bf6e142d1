// A loaded model's conversion as Describe tells it: the format its engine's model was
// converted from, or why it stayed on an engine of its source's format.

import type { ModelFormat } from '@eais/shared';
import type { ModelSource } from '../engines/engine.js';
import type { RegistryLoad } from '../engines/engine-registry.js';
import type { Conversion } from '../store/model-convert.js';
import type { StoredModel } from '../store/model-store.js';

/** What a model message says of its conversion. */
export interface ModelConversion {
  /** The uploaded format the engine's model was converted from; empty when the engine runs the upload itself. */
  readonly convertedFrom: ModelFormat | '';
  /** What was converted and how, or why the model was not converted or not run converted; empty when no conversion applies. */
  readonly note: string;
}

/** The engine that runs converted models (ONNX). */
const CONVERTED_ENGINE = 'ort';

/**
 * The converted model the engines may choose instead of the upload: the ONNX, unless there
 * is none or it computes otherwise than TF.js (a BatchNormalization off the last axis, which
 * the ONNX normalizes as Keras does and TF.js 4.22 does not): such a model stays on TF.js, so
 * its results do not change when the engine does.
 */
export function convertedSource(stored: StoredModel, conversion: Conversion | undefined): ModelSource | undefined {
  if (conversion?.ok !== true || conversion.differsFromTfjs.length > 0) return undefined;
  return { sha256: stored.sha256, format: 'onnx', path: conversion.path, sizeBytes: conversion.sizeBytes };
}

/**
 * What to say of a load's conversion: `conversion` is what the converter returned, or why
 * no conversion was tried (`--tf-convert off`), or undefined when none applies.
 */
export function conversionOf(loaded: RegistryLoad, format: ModelFormat, conversion: Conversion | string | undefined): ModelConversion {
  const kept = `kept on ${loaded.engine}`;
  if (conversion === undefined) return { convertedFrom: '', note: '' };
  if (typeof conversion === 'string') return { convertedFrom: '', note: `${kept}: ${conversion}` };
  if (!conversion.ok) return { convertedFrom: '', note: `${kept}, not converted to ONNX: ${conversion.why}` };
  if (loaded.source.format !== format) {
    const when = conversion.reused ? 'converted at an earlier load, kept in the model store' : 'converted at this load';
    return { convertedFrom: format, note: `runs the ${format} model converted to ONNX (${when}; ${conversion.notes.join('; ')})` };
  }
  if (conversion.differsFromTfjs.length > 0) {
    const why = `the ONNX computes otherwise than TF.js (${conversion.differsFromTfjs.join('; ')}), so the model stays on TF.js and its results do not change with the engine`;
    return { convertedFrom: '', note: `${kept}, converted to ONNX but not run so: ${why}` };
  }
  const passed = loaded.skipped.filter((s) => s.engine === CONVERTED_ENGINE).map((s) => `${s.device === '' ? s.engine : `${s.engine}/${s.device}`}: ${s.reason}`);
  const why = passed.length > 0 ? `the ONNX conversion did not load (${passed.join('; ')})` : `${loaded.engine} goes before ${CONVERTED_ENGINE} unless ${CONVERTED_ENGINE} runs the ONNX conversion on CUDA`;
  return { convertedFrom: '', note: `${kept}, converted to ONNX but not run so: ${why}` };
}
