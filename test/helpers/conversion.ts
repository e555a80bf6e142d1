// What tests of TF.js models converted in the daemon read: the daemon's conversion log
// lines, and a model's inputs and outputs in one comparable shape.

import type { ModelInfo } from '@eais/agent';
import type { DaemonProcess } from './daemon.js';

/** The daemon's log lines that say it converted (not reused) the model of that digest to ONNX. */
export const converted = (daemon: DaemonProcess, sha256: string, format: 'graph' | 'layers') =>
  daemon.logs.filter((l) => l.msg === `TF.js ${format} model converted to ONNX` && l.sha256 === sha256);

/** Waits until the daemon has kept the conversion of that digest in its store (synced behind the load, its outcome written after). */
export const kept = (daemon: DaemonProcess, sha256: string) => daemon.waitForLog((l) => l.msg === 'ONNX conversion kept in the model store' && l.sha256 === sha256);

/** The daemon's log lines that say it reused a kept conversion. */
export const reused = (daemon: DaemonProcess, sha256: string) => daemon.logs.filter((l) => l.msg === 'ONNX conversion reused from the model store' && l.sha256 === sha256);

/** A model's inputs and outputs as [name, dtype, shape]. */
export const io = (m: ModelInfo) => ({
  inputs: m.inputs.map((t) => [t.name, t.dtype, t.shape]),
  outputs: m.outputs.map((t) => [t.name, t.dtype, t.shape]),
});
