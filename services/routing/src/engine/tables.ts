import { DomainError } from '@openiothub/errors';
import type { PromiseClient, twinV1 } from '@openiothub/proto';
import { TtlCache } from '@openiothub/runtime';
import type { RoutingStore } from '../store/routing-store.js';
import { RoutingTable } from './routing-table.js';

/**
 * Compiled routing tables per hub. A change announced over NATS drops the hub's table at once;
 * the TTL bounds staleness should an announcement be lost.
 */
export class RoutingTables {
  readonly #cache: TtlCache<RoutingTable>;

  constructor(
    private readonly store: RoutingStore,
    ttlMs = 5000,
  ) {
    this.#cache = new TtlCache({ ttlMs });
  }

  get(hub: string): Promise<RoutingTable> {
    return this.#cache.get(hub, async () => new RoutingTable(hub, (await this.store.get(hub)).doc));
  }

  changed(hub: string): void {
    this.#cache.delete(hub);
  }
}

/**
 * Device twins for `$twin` conditions and enrichments: fetched from the twin service, kept briefly
 * and dropped when a twin-change event for the device goes by, so a route sees the current twin.
 */
export class TwinLookup {
  readonly #cache: TtlCache<unknown>;

  constructor(
    private readonly twin: PromiseClient<twinV1.TwinServiceClient>,
    ttlMs = 10_000,
  ) {
    this.#cache = new TtlCache({ ttlMs, max: 100_000 });
  }

  get(hub: string, deviceId: string): Promise<unknown> {
    return this.#cache.get(`${hub}\n${deviceId}`, async () => {
      try {
        return JSON.parse((await this.twin.getTwin({ key: { hub, deviceId, moduleId: '' } })).twinJson) as unknown;
      } catch (err) {
        if (err instanceof DomainError && err.spec.http === 404) return undefined;
        throw err;
      }
    });
  }

  changed(hub: string, deviceId: string): void {
    this.#cache.delete(`${hub}\n${deviceId}`);
  }
}
