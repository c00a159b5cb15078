export { createTwinApp } from './app.js';
export type { TwinApp } from './app.js';
export { loadTwinConfig, twinConfigSchema } from './config.js';
export type { TwinConfig } from './config.js';
