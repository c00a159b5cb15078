export { createMessagingApp } from './app.js';
export type { MessagingApp } from './app.js';
export { loadMessagingConfig, messagingConfigSchema } from './config.js';
export type { MessagingConfig } from './config.js';
