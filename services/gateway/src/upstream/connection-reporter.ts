import type { Logger } from '@openiothub/logging';
import type { RegistryClient } from './registry-client.js';
import type { HubMetrics } from '@openiothub/runtime';

/**
 * Tells the registry about connection state (each connect/disconnect, as it happens) and device
 * activity (batched: at most one lastActivityTime write per identity per flush interval).
 */
export class ConnectionReporter {
  readonly #registry: RegistryClient;
  readonly #log: Logger;
  readonly #activity = new Map<string, Map<string, { deviceId: string; moduleId: string; at: Date }>>();
  readonly #timer: NodeJS.Timeout;
  #flushing: Promise<void> | undefined;

  readonly #metrics: HubMetrics | undefined;

  constructor(opts: { registry: RegistryClient; log: Logger; flushMs: number; hubMetrics?: HubMetrics }) {
    this.#metrics = opts.hubMetrics;
    this.#registry = opts.registry;
    this.#log = opts.log;
    this.#timer = setInterval(() => void this.flush(), opts.flushMs);
    this.#timer.unref();
  }

  report(hub: string, deviceId: string, moduleId: string | undefined, connected: boolean, connectionId: string, at: Date): void {
    // Azure's connectedDeviceCount counts devices (not modules) connected to this process
    if (!moduleId) this.#metrics?.add('connectedDeviceCount', hub, connected ? 1 : -1);
    this.#registry.reportConnection({ hub, deviceId, moduleId: moduleId ?? '', connected, connectionId, at }).catch((err: unknown) => {
      this.#log.warn({ category: 'Connections', err, hub, deviceId, moduleId, connected }, 'connection state report failed');
    });
  }

  activity(hub: string, deviceId: string, moduleId: string | undefined, at: Date): void {
    let byHub = this.#activity.get(hub);
    if (!byHub) this.#activity.set(hub, (byHub = new Map()));
    byHub.set(`${deviceId}\n${moduleId ?? ''}`, { deviceId, moduleId: moduleId ?? '', at });
  }

  /** Write the batched activity now. */
  async flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const batch = [...this.#activity.entries()];
    this.#activity.clear();
    this.#flushing = (async () => {
      for (const [hub, entries] of batch) {
        const all = [...entries.values()];
        for (let i = 0; i < all.length; i += 1000) {
          await this.#registry.recordActivity({ hub, entries: all.slice(i, i + 1000) }).catch((err: unknown) => this.#log.warn({ category: 'Connections', err, hub }, 'activity report failed'));
        }
      }
    })().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
