import { TtlCache } from '@openiothub/runtime';
import { ensureD2CStreams, type NatsConnection } from './connect.js';

/** A hub's built-in endpoint, fixed when the hub was created. */
export interface HubEndpoint {
  readonly partitions: number;
  readonly retentionDays: number;
  readonly createdAt: Date;
}

/** How to read a hub from the registry (its gRPC GetHub); undefined fields fall back to IoT Hub's defaults. */
export type HubLookup = (hub: string) => Promise<{ partitionCount?: number; retentionDays?: number; createdTime?: Date | undefined } | undefined>;

/**
 * Hub endpoint settings from the registry; they never change after creation, so they are cached
 * long. The first look at a hub also makes sure its telemetry streams (ingest and built-in, per
 * partition) exist, so every path that publishes telemetry (which asks here first) finds them.
 */
export class HubInfo {
  readonly #lookup: HubLookup;
  readonly #nc: NatsConnection;
  readonly #cache = new TtlCache<HubEndpoint>({ ttlMs: 10 * 60_000 });

  constructor(lookup: HubLookup, nc: NatsConnection) {
    this.#lookup = lookup;
    this.#nc = nc;
  }

  get(hub: string): Promise<HubEndpoint> {
    return this.#cache.get(hub, async () => {
      const h = await this.#lookup(hub);
      const ep = { partitions: h?.partitionCount || 4, retentionDays: h?.retentionDays || 1, createdAt: h?.createdTime ?? new Date(0) };
      await ensureD2CStreams(this.#nc, hub, ep.partitions, ep.retentionDays);
      return ep;
    });
  }
}
