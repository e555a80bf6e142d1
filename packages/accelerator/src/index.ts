// @eais/accelerator: start the daemon in-process (tests, embedding); the CLI is main.ts.

export { startAccelerator } from './daemon-serve.js';
export type { RunningAccelerator } from './daemon-serve.js';
export { HELP, parseCommand } from './config.js';
export type { DaemonConfig, ParsedCommand } from './config.js';
export { createLogger } from './logger.js';
export { convertTfjs, convertTfjsGraph, convertTfjsLayers } from './convert/convert.js';
export type { ConvertOptions, Converted, NotConverted } from './convert/convert.js';
export type { GraphTensor } from './convert/convert-onnx-proto.js';
export { EngineRegistry } from './engines/engine-registry.js';
export type { EngineStatus, RegistryLoad, RegistryLoadOptions } from './engines/engine-registry.js';
export type { Engine, EngineModel, EngineProbe, ModelSource, SkippedEngine, TensorSpec } from './engines/engine.js';
export { createOrtEngine, ORT_PROVIDERS } from './engines/engine-ort.js';
export type { OrtEngineOptions } from './engines/engine-ort.js';
export { ENGINES, engineSpec } from './engines/engine-catalog.js';
export type { EngineSpec } from './engines/engine-catalog.js';
export { threadedEngine } from './engines/engine-thread.js';
export type { EngineOptions } from './engines/engine-thread-protocol.js';
