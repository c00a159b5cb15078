import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const twinConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the twin service owns schema "twin"'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(20).describe('Postgres connections; each twin write holds one for a short transaction'),
  NATS_URL: z.string().min(1).describe('NATS URL(s): desired-property pushes and twin-change events'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service (identity fields of twins)'),
  CONFIG_RECONCILE_MS: z.coerce.number().int().positive().default(10_000).describe('how often every hub with automatic device configurations is checked for twins whose membership changed (new devices; twin writes trigger a check at once)'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50052).describe('gRPC port of the TwinService'),
});

export type TwinConfig = z.infer<typeof twinConfigSchema>;

export function loadTwinConfig(env: Record<string, string | undefined> = process.env): TwinConfig {
  return parseConfig(twinConfigSchema, env);
}
