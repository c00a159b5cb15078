import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const routingConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the routing service owns schema "routing"'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(5).describe('Postgres connections'),
  NATS_URL: z.string().min(1).describe('NATS URL(s): ingest, built-in endpoint and event streams'),
  REDIS_URL: z.string().min(1).describe('Redis URL: leases that spread partitions and endpoints over routing processes'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service (hub partition counts)'),
  TWIN_GRPC_URL: z.string().default('127.0.0.1:50052').describe('host:port of the twin gRPC service ($twin conditions and enrichments)'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50054).describe('gRPC port of the RoutingService'),
  ROUTING_HUBS: z.string().default('').describe('comma-separated hubs this deployment routes (empty: every hub). Routing processes with the same list share the work; different lists never touch each other\'s hubs (tests and benchmarks on shared NATS and Redis)'),
  ROUTING_ACK_WAIT_MS: z.coerce.number().int().positive().default(10_000).describe('a routed batch not acknowledged in this time is routed again (by whoever holds the partition then)'),
  ROUTING_LEASE_MS: z.coerce.number().int().positive().default(10_000).describe('lease on a partition or endpoint: how soon another process takes over from a dead one'),
  ROUTING_DISCOVERY_MS: z.coerce.number().int().positive().default(2000).describe('how often new hubs, partitions and endpoints are looked for'),
  ROUTING_MAX_BATCH: z.coerce.number().int().positive().default(512).describe('most telemetry messages routed in one batch'),
  ROUTING_MIN_BATCH_FREQUENCY_SECONDS: z.coerce.number().int().positive().default(60).describe('lowest blob endpoint batch frequency accepted (IoT Hub: 60)'),
  EVENT_GRID_RETRY_MS: z.coerce.number().int().positive().default(60_000).describe('how long an event subscription delivery is retried'),
});

export type RoutingConfig = z.infer<typeof routingConfigSchema>;

export function loadRoutingConfig(env: Record<string, string | undefined> = process.env): RoutingConfig {
  return parseConfig(routingConfigSchema, env);
}
