import { describe, expect, it, vi } from 'vitest';
import type { JsMsg } from '@nats-io/jetstream';
import { headers as h } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import { Registry } from 'prom-client';
import { Router, type RouterDeps } from './router.js';

/** An EVENTS message as the registry writes a lifecycle notification. */
function event(hub: string, seq: number): JsMsg & { ack: ReturnType<typeof vi.fn> } {
  const hdrs = new Map<string, string[]>([
    [h.hubName, [hub]],
    [h.deviceId, ['dev1']],
    [h.messageSource, ['deviceLifecycleEvents']],
    [h.opType, ['createDeviceIdentity']],
  ]);
  const headers = { get: (k: string) => hdrs.get(k)?.[0] ?? '', [Symbol.iterator]: () => hdrs[Symbol.iterator]() };
  return { subject: `evt.${hub}.lifecycle.dev1`, headers, seq, data: new Uint8Array(), info: { timestampNanos: 0 }, ack: vi.fn() } as unknown as JsMsg & { ack: ReturnType<typeof vi.fn> };
}

describe('routing of EVENTS', () => {
  it('drops the events of a hub that does not exist, routes the others and acknowledges the batch', async () => {
    const sent: string[] = [];
    const table = { needsTwin: () => false, decide: () => ({ destinations: [{ endpoint: 'events' }], undefinedRoutes: [], dropped: false }) };
    const warn = vi.fn();
    const deps = {
      tables: { get: async () => table },
      hubInfo: { get: async (hub: string) => (hub === 'gone' ? Promise.reject(new DomainError('IotHubNotFound', `IoT hub ${hub} not found.`)) : { partitions: 4 }) },
      twins: { changed: () => undefined, get: async () => undefined },
      dispatcher: { send: async (_t: unknown, _p: number, _d: unknown, id: string) => void sent.push(id) },
      eventGrid: { event: async () => undefined },
      log: { warn, info: vi.fn(), error: vi.fn(), debug: vi.fn() },
      metrics: new Registry(),
    } as unknown as RouterDeps;
    const batch = [event('gone', 1), event('alive', 2), event('gone', 3)];
    await new Router(deps).routeEvents('EVENTS', batch);
    expect(sent).toEqual(['EVENTS:2']);
    for (const m of batch) expect(m.ack).toHaveBeenCalledOnce();
    expect(warn).toHaveBeenCalledOnce();
  });

  it('still fails the batch (to be retried) when the registry cannot be reached', async () => {
    const deps = {
      tables: { get: async () => ({}) },
      hubInfo: { get: async () => Promise.reject(new DomainError('ServiceUnavailable', 'registry down')) },
      twins: { changed: () => undefined },
      log: { warn: vi.fn() },
      metrics: new Registry(),
    } as unknown as RouterDeps;
    const m = event('alive', 1);
    await expect(new Router(deps).routeEvents('EVENTS', [m])).rejects.toMatchObject({ code: 'ServiceUnavailable' });
    expect(m.ack).not.toHaveBeenCalled();
  });
});
