import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const messagingConfigSchema = z.object({
  ...baseSchema,
  DATABASE_URL: z.string().min(1).describe('Postgres URL; the messaging service owns schema "messaging"'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(20).describe('Postgres connections'),
  NATS_URL: z.string().min(1).describe('NATS URL(s): nudges to the gateway holding a device when C2D messages wait'),
  REDIS_URL: z.string().min(1).describe('Redis URL: per-queue C2D delivery locks'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service (does the device exist, its generation)'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50053).describe('gRPC port of the MessagingService'),
  C2D_LOCK_MS: z.coerce.number().int().positive().default(60_000).describe('C2D lock (visibility) timeout: IoT Hub uses 1 minute'),
  SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(5000).describe('how often expired C2D and feedback messages are dead-lettered'),
  FILE_UPLOAD_CONNECTION_STRING: z.string().default('').describe('Azure Blob connection string of the storage file uploads go to, for hubs without their own (PUT /settings/fileUpload); empty: none'),
  FILE_UPLOAD_CONTAINER: z.string().default('fileuploads').describe('container for file uploads with FILE_UPLOAD_CONNECTION_STRING'),
  FILE_UPLOAD_CA_PATH: z.string().default('').describe('PEM file of an extra CA to trust when the hub talks to blob storage (the local hub: its dev CA, which signs Azurite\'s certificate)'),
  FEEDBACK_BATCH_MS: z.coerce.number().int().positive().default(1000).describe('how long feedback records gather before they are batched into one feedback message'),
});

export type MessagingConfig = z.infer<typeof messagingConfigSchema>;

export function loadMessagingConfig(env: Record<string, string | undefined> = process.env): MessagingConfig {
  return parseConfig(messagingConfigSchema, env);
}
