export { createRoutingApp } from './app.js';
export type { RoutingApp } from './app.js';
export { loadRoutingConfig, routingConfigSchema } from './config.js';
export type { RoutingConfig } from './config.js';
export { validateRouting, defaultRouting, DEFAULT_FILE_NAME_FORMAT, ROUTE_SOURCES, LIMITS } from './domain/routing-config.js';
export type { RoutingDoc, Route, Enrichment, StorageContainerEndpoint, WebhookEndpoint, NatsSubjectEndpoint } from './domain/routing-config.js';
export { MESSAGE_SCHEMA as AVRO_MESSAGE_SCHEMA } from './engine/avro.js';
