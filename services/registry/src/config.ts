import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const registryConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the registry owns schema "registry"'),
  NATS_URL: z.string().min(1).describe('NATS server URL(s), comma-separated; JetStream must be enabled'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50051).describe('gRPC port of the RegistryService'),
  MAX_DEVICES_PER_HUB: z.coerce.number().int().positive().default(1_000_000).describe('IoT Hub limit: devices per hub'),
  DEFAULT_HUB: z.string().default('').describe('hub to create at start (with its default policies) when absent; empty for none'),
  DEFAULT_HUB_PARTITIONS: z.coerce.number().int().min(2).max(128).default(4).describe('partitions of the built-in endpoint of DEFAULT_HUB, when it is created (fixed afterwards)'),
  DEFAULT_HUB_RETENTION_DAYS: z.coerce.number().int().min(1).max(7).default(1).describe('how many days the built-in endpoint of DEFAULT_HUB keeps telemetry readable, when it is created'),
});

export type RegistryConfig = z.infer<typeof registryConfigSchema>;

export function loadRegistryConfig(env: Record<string, string | undefined> = process.env): RegistryConfig {
  return parseConfig(registryConfigSchema, env);
}
