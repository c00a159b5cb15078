export { createRegistryApp } from './app.js';
export type { RegistryApp } from './app.js';
export { loadRegistryConfig, registryConfigSchema } from './config.js';
export type { RegistryConfig } from './config.js';
