import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const streamsConfigSchema = z.object({
  ...baseSchema,
  REDIS_URL: z.string().min(1).describe('Redis URL: single-use tokens, which relay process holds a waiting stream, the per-hub active set'),
  GRPC_HOST: z.string().default('0.0.0.0').describe('address the gRPC server binds'),
  GRPC_PORT: port(50056).describe('gRPC port of the StreamsService'),
  RELAY_HOST: z.string().default('0.0.0.0').describe('address the WebSocket relay binds'),
  RELAY_PORT: port(8446).describe('TLS WebSocket port of the relay (/bridges/{hub}/{device}/{streamId})'),
  TLS_CERT_PATH: z.string().min(1).describe('PEM certificate (chain) of the relay'),
  TLS_KEY_PATH: z.string().min(1).describe('PEM private key of the relay'),
  RELAY_CA_PATH: z.string().default('').describe('PEM of the CA of the relay certificates, for relay-to-relay links (default: the system trust store)'),
  RELAY_PUBLIC_URL: z.string().default('').describe('wss:// base URL devices and services reach the relay at (default wss://localhost:{port})'),
  RELAY_INTERNAL_URL: z.string().default('').describe('wss:// base URL other relay processes reach this one at (default wss://127.0.0.1:{port})'),
  STREAMS_TOKEN_SECRET: z.string().min(16).describe('HMAC secret of stream tokens and of relay-to-relay links; the same in every streams process'),
  STREAMS_HANDSHAKE_MS: z.coerce.number().int().positive().default(60_000).describe('both sides must reach the relay within this long after the stream is created (IoT Hub: 60 s)'),
  STREAMS_MAX_PER_HUB: z.coerce.number().int().positive().default(50).describe('streams a hub may have open or opening at once'),
});

export type StreamsConfig = z.infer<typeof streamsConfigSchema>;

export function loadStreamsConfig(env: Record<string, string | undefined> = process.env): StreamsConfig {
  return parseConfig(streamsConfigSchema, env);
}
