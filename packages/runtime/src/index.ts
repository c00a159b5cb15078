export { Lifecycle } from './lifecycle.js';
export { startAdminServer, createMetricsRegistry } from './admin-server.js';
export type { AdminServer } from './admin-server.js';
export { runService } from './run-service.js';
export type { ServiceContext, RuntimeConfig, RunServiceOptions } from './run-service.js';
export { tcpReachable, freePort } from './net.js';
export { runPeriodically } from './periodic.js';
export { TtlCache } from './ttl-cache.js';
export { HubMetrics, azureMetricName } from './hub-metrics.js';
