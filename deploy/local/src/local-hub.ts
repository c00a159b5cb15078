import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildConnectionString, eventHubsConnectionString } from '@openiothub/auth';
import { createGatewayApp, loadGatewayConfig } from '@openiothub/gateway';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { createTwinApp, loadTwinConfig } from '@openiothub/twin';
import { createMessagingApp, loadMessagingConfig } from '@openiothub/messaging';
import { createRoutingApp, loadRoutingConfig } from '@openiothub/routing';
import { createJobsApp, loadJobsConfig } from '@openiothub/jobs';
import { createStreamsApp, loadStreamsConfig } from '@openiothub/streams';
import { createProvisioningApp, loadProvisioningConfig } from '@openiothub/provisioning';
import { randomBytes } from 'node:crypto';
import type { ServiceContext } from '@openiothub/runtime';
import { startAzurite } from '@openiothub/testing';
import { resolveBackingServices } from './backing-services.js';
import { ensureDevCertificates } from './certs.js';

/** What `.data/local-hub.json` holds: everything a script or test needs to use a running hub. */
export interface LocalHubInfo {
  readonly hub: string;
  readonly hostName: string;
  readonly ownerConnectionString: string;
  /** The built-in endpoint for `@azure/event-hubs` (service policy). */
  readonly eventHubsConnectionString: string;
  readonly caCertPath: string;
  readonly ports: { readonly https: number; readonly mqtt: number; readonly amqp: number; readonly registryGrpc: number; readonly twinGrpc: number; readonly messagingGrpc: number; readonly routingGrpc: number; readonly jobsGrpc: number; readonly streamsGrpc: number; readonly streamsRelay: number };
  readonly backing: { readonly databaseUrl: string; readonly natsUrl: string; readonly redisUrl: string };
  /** Blob storage file uploads go to (Azurite over HTTPS with the dev certificate, unless FILE_UPLOAD_CONNECTION_STRING is set). */
  readonly storageConnectionString: string;
  /** A second hub on another loopback address, so DPS allocation across hubs can be tried. */
  readonly secondHub: { readonly hub: string; readonly hostName: string; readonly ownerConnectionString: string };
  /** The Device Provisioning Service: devices use `provisioningHost` and `idScope`; the service SDK the connection string. */
  readonly dps: { readonly instance: string; readonly idScope: string; readonly provisioningHost: string; readonly connectionString: string; readonly grpcPort: number };
}

/** Options for {@link startLocalHub}. */
export interface LocalHubOptions {
  /** Where certificates, embedded data and local-hub.json live. */
  readonly dataDir: string;
  /** Environment for the services (backing-service URLs, ports, LOG_LEVEL …). */
  readonly env: Record<string, string | undefined>;
  /** The hub served at `localhost`. */
  readonly hub?: string;
  /** Database used when the machine's local Postgres is found. */
  readonly database?: string;
  /** The second hub (default `hub2`, or `{hub}-2`), served at `secondHubHost` (default 127.0.0.2). */
  readonly secondHub?: string;
  readonly secondHubHost?: string;
  /** The provisioning instance served at localhost (default `localhost`). */
  readonly dpsInstance?: string;
}

/**
 * Start every service in this process on the same code as their own entry points, wired through
 * real gRPC on loopback. Stop hooks go to `ctx.lifecycle`.
 */
export async function startLocalHub(opts: LocalHubOptions, ctx: ServiceContext): Promise<LocalHubInfo> {
  const dataDir = resolve(opts.dataDir);
  const hub = opts.hub ?? 'localhost';
  const secondHub = opts.secondHub ?? (hub === 'localhost' ? 'hub2' : `${hub}-2`);
  const secondHubHost = opts.secondHubHost ?? opts.env['SECOND_HUB_HOST'] ?? '127.0.0.2';
  const dpsInstance = opts.dpsInstance ?? 'localhost';
  const certs = await ensureDevCertificates(join(dataDir, 'certs'), [secondHubHost]);
  const backing = await resolveBackingServices({ env: opts.env, dataDir, log: ctx.log, ...(opts.database ? { database: opts.database } : {}) });
  ctx.lifecycle.onStop('backing-services', () => backing.stop());
  ctx.log.info({ origins: backing.origins }, 'backing services');

  // file uploads need blob storage the devices reach over HTTPS: Azurite with the hub's dev certificate
  let storageConnectionString = opts.env['FILE_UPLOAD_CONNECTION_STRING'] ?? '';
  if (!storageConnectionString) {
    const location = join(dataDir, 'azurite');
    await mkdir(location, { recursive: true });
    const azurite = await startAzurite({ tls: { certPath: certs.serverCertPath, keyPath: certs.serverKeyPath }, location });
    ctx.lifecycle.onStop('azurite', () => azurite.stop());
    storageConnectionString = azurite.connectionString;
    ctx.log.info({ blobEndpoint: azurite.blobEndpoint }, 'azurite (file upload storage)');
  }
  const shared = { ...opts.env, DATABASE_URL: backing.databaseUrl, NATS_URL: backing.natsUrl, REDIS_URL: backing.redisUrl, FILE_UPLOAD_CONNECTION_STRING: storageConnectionString, FILE_UPLOAD_CA_PATH: opts.env['FILE_UPLOAD_CA_PATH'] ?? certs.caCertPath };
  const registry = await createRegistryApp(
    loadRegistryConfig({ ...shared, GRPC_HOST: '127.0.0.1', GRPC_PORT: opts.env['REGISTRY_GRPC_PORT'] ?? '0', DEFAULT_HUB: hub }),
    ctx,
  );
  const twin = await createTwinApp(
    loadTwinConfig({ ...shared, GRPC_HOST: '127.0.0.1', GRPC_PORT: opts.env['TWIN_GRPC_PORT'] ?? '0', REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}` }),
    ctx,
  );
  const messaging = await createMessagingApp(
    loadMessagingConfig({ ...shared, GRPC_HOST: '127.0.0.1', GRPC_PORT: opts.env['MESSAGING_GRPC_PORT'] ?? '0', REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}` }),
    ctx,
  );
  const routing = await createRoutingApp(
    loadRoutingConfig({
      ...shared,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: opts.env['ROUTING_GRPC_PORT'] ?? '0',
      REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}`,
      TWIN_GRPC_URL: `127.0.0.1:${twin.grpcPort}`,
    }),
    ctx,
  );
  const jobs = await createJobsApp(
    loadJobsConfig({ ...shared, GRPC_HOST: '127.0.0.1', GRPC_PORT: opts.env['JOBS_GRPC_PORT'] ?? '0', TWIN_GRPC_URL: `127.0.0.1:${twin.grpcPort}`, REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}` }),
    ctx,
  );
  const streams = await createStreamsApp(
    loadStreamsConfig({
      ...shared,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: opts.env['STREAMS_GRPC_PORT'] ?? '0',
      RELAY_HOST: opts.env['RELAY_HOST'] ?? '0.0.0.0',
      RELAY_PORT: opts.env['STREAMS_RELAY_PORT'] ?? '0',
      TLS_CERT_PATH: certs.serverCertPath,
      TLS_KEY_PATH: certs.serverKeyPath,
      RELAY_CA_PATH: certs.caCertPath,
      STREAMS_TOKEN_SECRET: opts.env['STREAMS_TOKEN_SECRET'] ?? randomBytes(32).toString('hex'),
    }),
    ctx,
  );
  await registry.service.ensureHub(secondHub);
  const provisioning = await createProvisioningApp(
    loadProvisioningConfig({ ...shared, GRPC_HOST: '127.0.0.1', GRPC_PORT: opts.env['PROVISIONING_GRPC_PORT'] ?? '0', REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}`, TWIN_GRPC_URL: `127.0.0.1:${twin.grpcPort}` }),
    ctx,
  );
  const gateway = await createGatewayApp(
    loadGatewayConfig({
      ...shared,
      TLS_CERT_PATH: certs.serverCertPath,
      TLS_KEY_PATH: certs.serverKeyPath,
      REGISTRY_GRPC_URL: `127.0.0.1:${registry.grpcPort}`,
      TWIN_GRPC_URL: `127.0.0.1:${twin.grpcPort}`,
      MESSAGING_GRPC_URL: `127.0.0.1:${messaging.grpcPort}`,
      ROUTING_GRPC_URL: `127.0.0.1:${routing.grpcPort}`,
      JOBS_GRPC_URL: `127.0.0.1:${jobs.grpcPort}`,
      STREAMS_GRPC_URL: `127.0.0.1:${streams.grpcPort}`,
      PROVISIONING_GRPC_URL: `127.0.0.1:${provisioning.grpcPort}`,
      DEFAULT_DPS: dpsInstance,
      HUB_HOSTS: [opts.env['HUB_HOSTS'], `${secondHub}=${secondHubHost}`].filter(Boolean).join(','),
      DEFAULT_HUB: hub,
    }),
    ctx,
  );

  const owner = await registry.service.getPolicy(hub, 'iothubowner');
  const service = await registry.service.getPolicy(hub, 'service');
  const hostName = gateway.hubs.hostNameOf(hub);
  const secondHostName = gateway.hubs.hostNameOf(secondHub);
  const linked = [hub, secondHub].map((h) => ({ hub: h, hostName: gateway.hubs.hostNameOf(h), allocationWeight: 1, applyAllocationPolicy: true }));
  const dps = await provisioning.service.ensureInstance(dpsInstance, '', linked, '');
  const dpsOwner = dps.policies.find((p) => p.keyName === 'provisioningserviceowner')!;
  const secondOwner = await registry.service.getPolicy(secondHub, 'iothubowner');
  const info: LocalHubInfo = {
    hub,
    hostName,
    ownerConnectionString: buildConnectionString({ HostName: hostName, SharedAccessKeyName: owner.keyName, SharedAccessKey: owner.primaryKey }),
    eventHubsConnectionString: eventHubsConnectionString({ hostName, amqpPort: gateway.amqpPort, keyName: service.keyName, key: service.primaryKey, hub }),
    caCertPath: certs.caCertPath,
    ports: { https: gateway.httpsPort, mqtt: gateway.mqttPort, amqp: gateway.amqpPort, registryGrpc: registry.grpcPort, twinGrpc: twin.grpcPort, messagingGrpc: messaging.grpcPort, routingGrpc: routing.grpcPort, jobsGrpc: jobs.grpcPort, streamsGrpc: streams.grpcPort, streamsRelay: streams.relayPort },
    backing: { databaseUrl: backing.databaseUrl, natsUrl: backing.natsUrl, redisUrl: backing.redisUrl },
    storageConnectionString,
    secondHub: { hub: secondHub, hostName: secondHostName, ownerConnectionString: buildConnectionString({ HostName: secondHostName, SharedAccessKeyName: secondOwner.keyName, SharedAccessKey: secondOwner.primaryKey }) },
    dps: {
      instance: dps.name,
      idScope: dps.idScope,
      provisioningHost: hostName,
      connectionString: buildConnectionString({ HostName: hostName, SharedAccessKeyName: dpsOwner.keyName, SharedAccessKey: dpsOwner.primaryKey }),
      grpcPort: provisioning.grpcPort,
    },
  };
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'local-hub.json'), JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  return info;
}
