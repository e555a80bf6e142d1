// @eais/accelerator: start the daemon in-process (tests, embedding); the CLI is main.ts.

export { startAccelerator } from './server.js';
export type { RunningAccelerator } from './server.js';
export { HELP, parseCommand } from './config.js';
export type { DaemonConfig, ParsedCommand } from './config.js';
export { createLogger } from './logger.js';
export { EngineRegistry } from './engine-registry.js';
export type { EngineStatus, RegistryLoad, RegistryLoadOptions } from './engine-registry.js';
export type { Engine, EngineModel, EngineProbe, ModelSource, SkippedEngine, TensorSpec } from './engine.js';
export { createOrtEngine, ORT_PROVIDERS } from './engine-ort.js';
export type { OrtEngineOptions } from './engine-ort.js';
export { ENGINES, engineSpec } from './engine-catalog.js';
export type { EngineSpec } from './engine-catalog.js';
export { threadedEngine } from './engine-thread.js';
export type { EngineOptions } from './engine-thread-protocol.js';
