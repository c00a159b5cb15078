import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const gatewayConfigSchema = z.object({
  ...baseSchema,
  HTTPS_HOST: z.string().default('0.0.0.0').describe('address the HTTPS listener binds'),
  HTTPS_PORT: port(443).describe('HTTPS port: service REST, device REST, WebSocket upgrades. The Azure SDKs always dial 443'),
  TLS_CERT_PATH: z.string().min(1).describe('PEM server certificate (with chain) for every TLS listener'),
  TLS_KEY_PATH: z.string().min(1).describe('PEM private key of TLS_CERT_PATH'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service'),
  DEFAULT_HUB: z.string().default('localhost').describe('hub served for the host names localhost, 127.0.0.1 and ::1'),
  HUB_DOMAIN: z.string().default('').describe('DNS suffix of hub host names: {hub}.{HUB_DOMAIN}; empty serves only DEFAULT_HUB'),
  MAX_REQUEST_BYTES: z.coerce.number().int().positive().default(256 * 1024).describe('largest service REST request body accepted'),
  HTTP_DRAIN_MS: z.coerce.number().int().min(0).default(5000).describe('on shutdown, how long requests in flight may take before connections are cut'),
  POLICY_CACHE_MS: z.coerce.number().int().min(0).default(5000).describe('how long a shared access policy lookup is cached'),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  return parseConfig(gatewayConfigSchema, env);
}
