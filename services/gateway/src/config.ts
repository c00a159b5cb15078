import { baseSchema, parseConfig, port, z } from '@openiothub/config';

export const gatewayConfigSchema = z.object({
  ...baseSchema,
  HTTPS_HOST: z.string().default('0.0.0.0').describe('address the HTTPS listener binds'),
  HTTPS_PORT: port(443).describe('HTTPS port: service REST, device REST, WebSocket upgrades. The Azure SDKs always dial 443'),
  TLS_CERT_PATH: z.string().min(1).describe('PEM server certificate (with chain) for every TLS listener'),
  TLS_KEY_PATH: z.string().min(1).describe('PEM private key of TLS_CERT_PATH'),
  REGISTRY_GRPC_URL: z.string().default('127.0.0.1:50051').describe('host:port of the registry gRPC service'),
  TWIN_GRPC_URL: z.string().default('127.0.0.1:50052').describe('host:port of the twin gRPC service'),
  STREAMS_GRPC_URL: z.string().default('127.0.0.1:50056').describe('host:port of the streams gRPC service (device streams)'),
  JOBS_GRPC_URL: z.string().default('127.0.0.1:50055').describe('host:port of the jobs gRPC service (jobs, devices.jobs queries)'),
  ROUTING_GRPC_URL: z.string().default('127.0.0.1:50054').describe('host:port of the routing gRPC service (routes, endpoints, test-route, endpoint health)'),
  MESSAGING_GRPC_URL: z.string().default('127.0.0.1:50053').describe('host:port of the messaging gRPC service (C2D queues, feedback)'),
  PROVISIONING_GRPC_URL: z.string().default('').describe('host:port of the provisioning gRPC service (DPS over MQTT and HTTPS); empty: no DPS on this gateway'),
  DEFAULT_DPS: z.string().default('localhost').describe('provisioning instance whose service API is served for the host names localhost, 127.0.0.1 and ::1'),
  HUB_HOSTS: z.string().default('').describe('extra host names of hubs, hub=host pairs separated by commas (e.g. hub2=127.0.0.2): a second hub on one machine'),
  DEFAULT_HUB: z.string().default('localhost').describe('hub served for the host names localhost, 127.0.0.1 and ::1'),
  HUB_DOMAIN: z.string().default('').describe('DNS suffix of hub host names: {hub}.{HUB_DOMAIN}; empty serves only DEFAULT_HUB'),
  MAX_REQUEST_BYTES: z.coerce.number().int().positive().default(256 * 1024).describe('largest service REST request body accepted'),
  HTTP_DRAIN_MS: z.coerce.number().int().min(0).default(5000).describe('on shutdown, how long requests in flight may take before connections are cut'),
  MQTT_HOST: z.string().default('0.0.0.0').describe('address the MQTT/TLS listener binds'),
  MQTT_PORT: port(8883).describe('MQTT 3.1.1 over TLS'),
  AMQP_HOST: z.string().default('0.0.0.0').describe('address the AMQP/TLS listener binds'),
  AMQP_PORT: port(5671).describe('AMQP 1.0 over TLS (device and service links)'),
  NATS_URL: z.string().min(1).describe('NATS server URL(s) with JetStream: telemetry, presence, identity changes'),
  REDIS_URL: z.string().min(1).describe('Redis URL: MQTT persistent sessions'),
  AUTH_DEADLINE_MS: z.coerce.number().int().positive().default(30_000).describe('how long a new MQTT or AMQP connection may take to authenticate (CONNECT, first $cbs token) before it is closed'),
  MAX_CONNECTIONS: z.coerce.number().int().positive().default(500_000).describe('open connections this gateway process accepts (all listeners); more are refused before TLS'),
  MAX_CONNECTIONS_PER_IP: z.coerce.number().int().positive().default(10_000).describe('open connections from one source address (devices behind a NAT share one); more are refused before TLS'),
  NEW_CONNECTIONS_PER_IP_PER_SECOND: z.coerce.number().positive().default(500).describe('new connections a second from one source address (bursts of twice that); more are refused before TLS'),
  MQTT_MAX_KEEPALIVE_SECONDS: z.coerce.number().int().positive().default(1177).describe('IoT Hub caps the MQTT keep-alive at 1177 s'),
  MQTT_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(100).describe('QoS 1 messages per connection awaiting JetStream before reading pauses'),
  MQTT_SESSION_TTL_SECONDS: z.coerce.number().int().positive().default(7 * 86400).describe('how long a persistent MQTT session outlives its connection'),
  CREDENTIALS_CACHE_MS: z.coerce.number().int().min(0).default(60_000).describe('device credential cache; dropped at once when the registry announces a change'),
  ACTIVITY_FLUSH_MS: z.coerce.number().int().positive().default(5000).describe('how often lastActivityTime updates are written to the registry'),
  POLICY_CACHE_MS: z.coerce.number().int().min(0).default(5000).describe('how long a shared access policy lookup is cached'),
});

export type GatewayConfig = z.infer<typeof gatewayConfigSchema>;

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  return parseConfig(gatewayConfigSchema, env);
}
