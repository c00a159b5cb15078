export { createProvisioningApp } from './app.js';
export type { ProvisioningApp } from './app.js';
export { loadProvisioningConfig, provisioningConfigSchema } from './config.js';
export type { ProvisioningConfig } from './config.js';
export { newIdScope } from './domain/provisioning-service.js';
