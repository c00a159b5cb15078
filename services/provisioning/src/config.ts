import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const provisioningConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the provisioning service owns schema "provisioning"'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10).describe('Postgres connections'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service (identities in the linked hubs)'),
  TWIN_GRPC_URL: z.string().default('127.0.0.1:50052').describe('host:port of the twin gRPC service (initial twins, twin migration)'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50057).describe('gRPC port of the ProvisioningService'),
  DPS_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(60).default(3).describe('retry-after devices are told to wait before polling an operation (DPS: 3)'),
  DPS_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000).describe('how long a custom allocation webhook may take before the registration fails'),
  DPS_FAILOVER_SWEEP_MS: z.coerce.number().int().positive().default(10_000).describe('how often expired manual failovers are reverted'),
  DPS_OPERATION_HOURS: z.coerce.number().positive().default(24).describe('how long operation results stay pollable'),
});

export type ProvisioningConfig = z.infer<typeof provisioningConfigSchema>;

export function loadProvisioningConfig(env: Record<string, string | undefined> = process.env): ProvisioningConfig {
  return parseConfig(provisioningConfigSchema, env);
}
