import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const jobsConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the jobs service owns schema "jobs"'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10).describe('Postgres connections'),
  NATS_URL: z.string().min(1).describe('NATS URL(s): direct methods reach devices through the gateway holding them'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service (import/export of identities)'),
  TWIN_GRPC_URL: z.string().default('127.0.0.1:50052').describe('host:port of the twin gRPC service (query conditions, twin updates)'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50055).describe('gRPC port of the JobsService'),
  JOBS_MAX_CONCURRENT_PER_HUB: z.coerce.number().int().positive().default(10).describe('jobs a hub may have queued, scheduled or running at once (IoT Hub: 1 on S1, 5 on S2, 10 on S3); one more is refused with 429'),
  JOBS_DEVICE_OPS_PER_SECOND: z.coerce.number().nonnegative().default(1000).describe('device operations per second per hub, shared by every jobs process (IoT Hub S1: 10); 0 means unlimited'),
  JOBS_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(256).describe('device operations one jobs process runs at once'),
  JOBS_POLL_MS: z.coerce.number().int().positive().default(250).describe('how often a jobs process looks for jobs to start and device operations to run'),
  JOBS_EXPANSION_LEASE_MS: z.coerce.number().int().positive().default(60_000).describe('how long a process may take to list the devices of a job before another process takes over'),
  JOBS_BULK_LEASE_MS: z.coerce.number().int().positive().default(60_000).describe('an import/export job whose process stops reporting progress for this long is taken over by another process'),
  JOBS_LEASE_GRACE_SECONDS: z.coerce.number().int().positive().default(30).describe('a claimed device operation whose process stops is run again by another process this long after its own timeouts'),
  JOBS_HUBS: z.string().default('').describe('comma-separated hubs whose jobs this process runs; empty for every hub (a deployment serving some hubs, or tests sharing a database)'),
  JOBS_HISTORY_DAYS: z.coerce.number().positive().default(30).describe('finished jobs are kept this long (IoT Hub: 30 days)'),
});

export type JobsConfig = z.infer<typeof jobsConfigSchema>;

export function loadJobsConfig(env: Record<string, string | undefined> = process.env): JobsConfig {
  return parseConfig(jobsConfigSchema, env);
}
