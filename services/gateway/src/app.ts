import { readFile } from 'node:fs/promises';
import type { ServiceContext } from '@openiothub/runtime';
import type { GatewayConfig } from './config.js';
import { HubResolver } from './auth/hub-resolver.js';
import { ServiceAuthorizer } from './auth/service-auth.js';
import { Router } from './http/router.js';
import { closeGracefully, createRequestHandler, listenHttps } from './http/server.js';
import { registerRegistryRoutes } from './http/service-api/registry-routes.js';
import { createRegistryClient } from './upstream/registry-client.js';

/** What a running gateway exposes to an in-process host. */
export interface GatewayApp {
  readonly httpsPort: number;
  readonly hubs: HubResolver;
}

/** Composition root: upstream clients → authorizers → routes → listeners. */
export async function createGatewayApp(config: GatewayConfig, ctx: ServiceContext): Promise<GatewayApp> {
  const { log, lifecycle } = ctx;
  const [cert, key] = await Promise.all([readFile(config.TLS_CERT_PATH, 'utf8'), readFile(config.TLS_KEY_PATH, 'utf8')]);

  const registry = createRegistryClient(config.REGISTRY_GRPC_URL);
  lifecycle.onStop('registry-client', () => registry.close());

  const hubs = new HubResolver({ defaultHub: config.DEFAULT_HUB, domain: config.HUB_DOMAIN });
  const auth = new ServiceAuthorizer({ registry, hubs, cacheMs: config.POLICY_CACHE_MS });

  const router = new Router();
  registerRegistryRoutes(router, { registry, auth, maxBodyBytes: config.MAX_REQUEST_BYTES });

  const https = await listenHttps({
    host: config.HTTPS_HOST,
    port: config.HTTPS_PORT,
    cert,
    key,
    handler: createRequestHandler({ router, hubs, log }),
  });
  lifecycle.onStop('https-listener', () => closeGracefully(https.server, config.HTTP_DRAIN_MS));
  log.info({ httpsPort: https.port }, 'gateway listening');
  return { httpsPort: https.port, hubs };
}
