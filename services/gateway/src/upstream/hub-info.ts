import { ensureD2CStreams, type NatsConnection } from '@openiothub/bus';
import { TtlCache } from '@openiothub/runtime';
import type { RegistryClient } from './registry-client.js';

/** What the gateway needs to know of a hub: its built-in endpoint, fixed when the hub was created. */
export interface HubEndpoint {
  readonly partitions: number;
  readonly retentionDays: number;
  readonly createdAt: Date;
}

/**
 * Hub endpoint settings from the registry; they never change after creation, so they are cached
 * long. The first look at a hub also makes sure its telemetry partition streams exist, so every
 * path that publishes telemetry (which asks here first) finds them.
 */
export class HubInfo {
  readonly #registry: RegistryClient;
  readonly #nc: NatsConnection;
  readonly #cache = new TtlCache<HubEndpoint>({ ttlMs: 10 * 60_000 });

  constructor(registry: RegistryClient, nc: NatsConnection) {
    this.#registry = registry;
    this.#nc = nc;
  }

  get(hub: string): Promise<HubEndpoint> {
    return this.#cache.get(hub, async () => {
      const h = (await this.#registry.getHub({ hub })).hub;
      const ep = { partitions: h?.partitionCount || 4, retentionDays: h?.retentionDays || 1, createdAt: h?.createdTime ?? new Date(0) };
      await ensureD2CStreams(this.#nc, hub, ep.partitions, ep.retentionDays);
      return ep;
    });
  }
}
