import { readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { fromSubjectToken, HubInfo, LeanJetStreamPublisher, openBus, parseIdentityChanged, subjects } from '@openiothub/bus';
import { HubMetrics, type ServiceContext } from '@openiothub/runtime';
import { connectClient, jobsV1, provisioningV1, streamsV1 } from '@openiothub/proto';
import type { GatewayConfig } from './config.js';
import { DeviceAuthenticator } from './auth/device-auth.js';
import { HubResolver, parseHubHosts } from './auth/hub-resolver.js';
import { IpFilterGuard } from './auth/ip-filter-cache.js';
import { Throttle } from './throttle/throttle.js';
import { ConnectionGuard } from './guard/connection-guard.js';
import { DpsHttp } from './dps/http.js';
import { ServiceAuthorizer } from './auth/service-auth.js';
import { Router } from './http/router.js';
import { closeGracefully, createRequestHandler, listenHttps } from './http/server.js';
import { registerRegistryRoutes } from './http/service-api/registry-routes.js';
import { registerMethodRoutes } from './http/service-api/method-routes.js';
import { registerTwinRoutes } from './http/service-api/twin-routes.js';
import { registerQueryRoutes } from './http/service-api/query-routes.js';
import { registerJobRoutes } from './http/service-api/job-routes.js';
import { registerStreamRoutes } from './http/service-api/stream-routes.js';
import { registerConfigurationRoutes } from './http/service-api/configuration-routes.js';
import { registerCertificateRoutes } from './http/service-api/certificate-routes.js';
import { registerHubSettingsRoutes } from './http/service-api/hub-settings-routes.js';
import { createTwinClient } from './upstream/twin-client.js';
import { createRoutingClient } from './upstream/routing-client.js';
import { registerRoutingRoutes } from './http/service-api/routing-routes.js';
import { createMessagingClient } from './upstream/messaging-client.js';
import { registerC2DRoutes } from './http/service-api/c2d-routes.js';
import { registerEndpointRoutes } from './http/service-api/endpoint-routes.js';
import { registerDeviceRoutes } from './http/device-api/device-routes.js';
import type { MqttDeps } from './mqtt/deps.js';
import { createUpgradeHandler, listenMqtts, MqttConnections } from './mqtt/server.js';
import { Presence } from './session/presence.js';
import { AmqpEndpoint, listenAmqps } from './amqp/server.js';
import { SessionStore } from './session/session-store.js';
import { D2CIngest } from './telemetry/d2c-ingest.js';
import { ConnectionReporter } from './upstream/connection-reporter.js';
import { PolicyCache } from './upstream/policy-cache.js';
import { createRegistryClient } from './upstream/registry-client.js';


/** What a running gateway exposes to an in-process host. */
export interface GatewayApp {
  readonly httpsPort: number;
  readonly mqttPort: number;
  readonly amqpPort: number;
  readonly hubs: HubResolver;
  readonly connections: MqttConnections;
}

/** Composition root: upstream clients → authenticators → sessions → routes and listeners. */
export async function createGatewayApp(config: GatewayConfig, ctx: ServiceContext): Promise<GatewayApp> {
  const { log, lifecycle, metrics } = ctx;
  const [cert, key] = await Promise.all([readFile(config.TLS_CERT_PATH, 'utf8'), readFile(config.TLS_KEY_PATH, 'utf8')]);

  const registry = createRegistryClient(config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => registry.close());
  const twin = createTwinClient(config.TWIN_GRPC_URL);
  lifecycle.onStop('twin-client', () => twin.close());
  const routing = createRoutingClient(config.ROUTING_GRPC_URL);
  lifecycle.onStop('routing-client', () => routing.close());
  const jobs = connectClient(jobsV1.JobsServiceClient, jobsV1.JobsServiceService, config.JOBS_GRPC_URL);
  lifecycle.onStop('jobs-client', () => jobs.close());
  const streamsClient = connectClient(streamsV1.StreamsServiceClient, streamsV1.StreamsServiceService, config.STREAMS_GRPC_URL);
  lifecycle.onStop('streams-client', () => streamsClient.close());
  const provisioning = config.PROVISIONING_GRPC_URL ? connectClient(provisioningV1.ProvisioningServiceClient, provisioningV1.ProvisioningServiceService, config.PROVISIONING_GRPC_URL) : undefined;
  if (provisioning) lifecycle.onStop('provisioning-client', () => provisioning.close());
  const nc = await openBus({ url: config.NATS_URL, name: 'openiothub-gateway', streams: ['EVENTS'], lifecycle });
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false });
  await redis.connect();
  lifecycle.onStop('redis', async () => void (await redis.quit()));
  lifecycle.addReadinessCheck('redis', () => redis.status === 'ready');

  const hubs = new HubResolver({ defaultHub: config.DEFAULT_HUB, domain: config.HUB_DOMAIN, hosts: parseHubHosts(config.HUB_HOSTS) });
  const policies = new PolicyCache({ registry, ttlMs: config.POLICY_CACHE_MS });
  const auth = new ServiceAuthorizer({ policies, hubs });
  const ipFilter = new IpFilterGuard({ registry, cacheMs: config.POLICY_CACHE_MS });
  const hubMetrics = new HubMetrics(metrics);
  const throttle = new Throttle({ redis, registry, cacheMs: config.POLICY_CACHE_MS, hubMetrics, log });
  const deviceAuth = new DeviceAuthenticator({ registry, policies, hubs, cacheMs: config.CREDENTIALS_CACHE_MS });

  const publisher = new LeanJetStreamPublisher(nc);
  lifecycle.onStop('d2c-publisher', () => publisher.close());
  const reporter = new ConnectionReporter({ registry, log, flushMs: config.ACTIVITY_FLUSH_MS, hubMetrics });
  lifecycle.onStop('connection-reporter', () => reporter.stop());
  const presence = new Presence(nc);
  // a send to a device this process holds gets the message locked for its delivery here
  const messaging = createMessagingClient(config.MESSAGING_GRPC_URL, (key) => presence.c2dOf(key.hub, key.deviceId, key.moduleId));
  lifecycle.onStop('messaging-client', () => messaging.close());
  const connections = new MqttConnections();

  const ingest = new D2CIngest({ publisher, throttle, hubMetrics });
  const hubInfo = new HubInfo(async (hub) => (await registry.getHub({ hub })).hub, nc);
  const mqttDeps: MqttDeps = {
    log,
    hubs,
    ipFilter,
    throttle,
    hubMetrics,
    auth: deviceAuth,
    presence,
    sessions: new SessionStore(redis, config.MQTT_SESSION_TTL_SECONDS),
    ingest,
    reporter,
    twin,
    messaging,
    hubInfo,
    provisioning,
    maxKeepAliveSeconds: config.MQTT_MAX_KEEPALIVE_SECONDS,
    authDeadlineMs: config.AUTH_DEADLINE_MS,
    maxInFlight: config.MQTT_MAX_IN_FLIGHT,
    metrics: {
      connections: new Gauge({ name: 'openiothub_gateway_connections', help: 'open device connections', labelNames: ['transport'], registers: [metrics] }),
      d2cMessages: new Counter({ name: 'openiothub_gateway_d2c_messages_total', help: 'telemetry messages stored', labelNames: ['transport'], registers: [metrics] }),
      rejectedConnects: new Counter({ name: 'openiothub_gateway_rejected_connects_total', help: 'refused device connects', labelNames: ['reason'], registers: [metrics] }),
    },
  };

  nc.subscribe(subjects.hubSettingsChangedAll(), {
    callback: (err, msg) => {
      if (err) return;
      const hub = fromSubjectToken(msg.subject.split('.')[1] ?? '');
      ipFilter.invalidate(hub);
      throttle.invalidate(hub);
    },
  });
  // The registry announces credential/status changes: drop caches, close disabled or deleted identities at once.
  nc.subscribe(subjects.identityChangedAll(), {
    callback: (err, msg) => {
      const changed = err ? undefined : parseIdentityChanged(msg.subject);
      if (!changed) return;
      const { hub, deviceId } = changed;
      deviceAuth.invalidate(hub, deviceId);
      for (const claimant of presence.localOf(hub, deviceId)) {
        deviceAuth.lookup(hub, deviceId, claimant.moduleId, true).then(
          (c) => {
            if (!c.found || c.status !== 'enabled') claimant.revoke();
          },
          (e: unknown) => log.warn({ err: e, hub, deviceId }, 'could not re-check a changed identity'),
        );
      }
    },
  });

  const router = new Router();
  const c2dCount = (hub: string, deviceId: string, moduleId: string) =>
    messaging.count({ key: { hub, deviceId, moduleId } }).then(
      (r) => r.count,
      (err: unknown) => {
        log.warn({ err, hub, deviceId }, 'C2D queue depth unavailable; showing the registry value');
        return undefined;
      },
    );
  registerQueryRoutes(router, { twins: (req) => twin.query(req), jobs: (req) => jobs.queryDeviceJobs(req), auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerJobRoutes(router, { jobs, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerStreamRoutes(router, { streams: streamsClient, nc, local: presence.request, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerConfigurationRoutes(router, { twin, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerCertificateRoutes(router, { registry, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerHubSettingsRoutes(router, { registry, auth, throttle, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerRegistryRoutes(router, { registry, auth, maxBodyBytes: config.MAX_REQUEST_BYTES, c2dCount });
  registerMethodRoutes(router, { nc, local: presence.request, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerTwinRoutes(router, { twin, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerC2DRoutes(router, { messaging, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerEndpointRoutes(router, { messaging, auth });
  registerRoutingRoutes(router, { routing, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });
  registerDeviceRoutes(router, { auth: deviceAuth, ingest, messaging, reporter, hubInfo, maxBodyBytes: config.MAX_REQUEST_BYTES });

  const dps = provisioning
    ? new DpsHttp({ provisioning, instanceOfHost: (host) => hubs.instanceOf(host, config.DEFAULT_DPS), log, maxBodyBytes: config.MAX_REQUEST_BYTES })
    : undefined;
  // connection-flood protection, shared by every listener of this process
  const guard = new ConnectionGuard({
    maxTotal: config.MAX_CONNECTIONS,
    maxPerIp: config.MAX_CONNECTIONS_PER_IP,
    ratePerIp: config.NEW_CONNECTIONS_PER_IP_PER_SECOND,
    onRefused: (reason) => mqttDeps.metrics.rejectedConnects.inc({ reason }),
  });
  const https = await listenHttps({ host: config.HTTPS_HOST, port: config.HTTPS_PORT, cert, key, guard, handler: createRequestHandler({ router, hubs, log, dps, ipFilter, throttle, hubMetrics }) });
  const amqp = new AmqpEndpoint({ log, hubs, ipFilter, throttle, authDeadlineMs: config.AUTH_DEADLINE_MS, deviceAuth, serviceAuth: auth, ingest, messaging, twin, presence, reporter, nc, policies, registry, hubInfo, amqpPort: config.AMQP_PORT });
  https.server.on('upgrade', createUpgradeHandler({ deps: mqttDeps, connections, amqp: (ws) => amqp.acceptWebSocket(ws) }));
  lifecycle.onStop('https-listener', () => closeGracefully(https.server, config.HTTP_DRAIN_MS));
  const mqtts = await listenMqtts({ host: config.MQTT_HOST, port: config.MQTT_PORT, cert, key, deps: mqttDeps, connections, guard });
  lifecycle.onStop('mqtt-listener', async () => {
    const closed = new Promise<void>((resolve) => mqtts.server.close(() => resolve()));
    connections.closeAll();
    await closed;
  });
  const amqps = await listenAmqps({ host: config.AMQP_HOST, port: config.AMQP_PORT, cert, key, endpoint: amqp, guard });
  lifecycle.onStop('amqp-listener', async () => {
    const closed = new Promise<void>((resolve) => amqps.server.close(() => resolve()));
    amqp.closeAll();
    await closed;
  });
  log.info({ httpsPort: https.port, mqttPort: mqtts.port, amqpPort: amqps.port }, 'gateway listening');
  return { httpsPort: https.port, mqttPort: mqtts.port, amqpPort: amqps.port, hubs, connections };
}
