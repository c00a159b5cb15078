import { fileURLToPath } from 'node:url';
import { openDatabase } from '@openiothub/postgres';
import { connectClient, provisioningV1, registryV1, serveGrpc, twinV1 } from '@openiothub/proto';
import type { ServiceContext } from '@openiothub/runtime';
import type { ProvisioningConfig } from './config.js';
import { HubIdentities } from './domain/hub-identities.js';
import { ProvisioningService } from './domain/provisioning-service.js';
import { Registrar } from './domain/registration.js';
import { provisioningHandlers } from './rpc/handlers.js';
import { ProvisioningStore } from './store/store.js';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** What a running provisioning service exposes to an in-process host. */
export interface ProvisioningApp {
  readonly service: ProvisioningService;
  readonly grpcPort: number;
}

/** Composition root: Postgres → store → registrar (registry + twin gRPC) → service → gRPC; a sweep reverts expired failovers. */
export async function createProvisioningApp(config: ProvisioningConfig, ctx: ServiceContext): Promise<ProvisioningApp> {
  const { log, lifecycle } = ctx;
  const { pool, applied } = await openDatabase({ url: config.DATABASE_URL, name: 'openiothub-provisioning', schema: 'provisioning', migrations: MIGRATIONS, poolSize: config.DATABASE_POOL_SIZE, lifecycle });
  if (applied.length > 0) log.info({ applied }, 'migrations applied');
  const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => registry.close());
  const twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, config.TWIN_GRPC_URL);
  lifecycle.onStop('twin-client', () => twin.close());

  const store = new ProvisioningStore(pool);
  const registrar = new Registrar(store, new HubIdentities(registry, twin), { webhookTimeoutMs: config.DPS_WEBHOOK_TIMEOUT_MS });
  const service = new ProvisioningService(store, registrar);
  const sweep = setInterval(() => {
    service.revertDueFailovers().then(
      (n) => n > 0 && log.info({ reverted: n }, 'expired failovers reverted'),
      (err: unknown) => log.warn({ err }, 'failover sweep failed; will retry'),
    );
    store.dropOldOperations(config.DPS_OPERATION_HOURS).catch((err: unknown) => log.warn({ err }, 'operation clean-up failed'));
  }, config.DPS_FAILOVER_SWEEP_MS);
  sweep.unref();
  lifecycle.onStop('failover-sweep', () => clearInterval(sweep));

  const grpcPort = await serveGrpc({ host: config.GRPC_HOST, port: config.GRPC_PORT, services: [[provisioningV1.ProvisioningServiceService, provisioningHandlers(service, config.DPS_RETRY_AFTER_SECONDS)]], lifecycle, log });
  log.info({ grpcPort }, 'provisioning service listening');
  return { service, grpcPort };
}
