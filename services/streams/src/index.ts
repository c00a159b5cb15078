export { createStreamsApp } from './app.js';
export type { StreamsApp } from './app.js';
export { loadStreamsConfig, streamsConfigSchema } from './config.js';
export type { StreamsConfig } from './config.js';
export { CLOSE } from './relay.js';
