export { createGatewayApp } from './app.js';
export type { GatewayApp } from './app.js';
export { loadGatewayConfig, gatewayConfigSchema } from './config.js';
export type { GatewayConfig } from './config.js';
