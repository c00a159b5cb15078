import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { D2CMessage } from '@openiothub/bus';
import { ArgumentInvalidError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import { decodeJsonBody } from '@openiothub/query';
import { TtlCache } from '@openiothub/runtime';
import type { RouteSource } from '../domain/routing-config.js';
import type { RoutingStore } from '../store/routing-store.js';
import { routingView } from './routing-table.js';

export const EVENT_TYPES = ['Microsoft.Devices.DeviceCreated', 'Microsoft.Devices.DeviceDeleted', 'Microsoft.Devices.DeviceConnected', 'Microsoft.Devices.DeviceDisconnected', 'Microsoft.Devices.DeviceTelemetry'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** One Event Grid-style subscription of a hub: a webhook, the event types it wants, subject filters (ANDed). */
export interface EventSubscription {
  name: string;
  url: string;
  includedEventTypes: EventType[];
  subjectBeginsWith: string;
  subjectEndsWith: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a hub's subscription list (at most 10; names unique; http(s) URLs; known event types). */
export function validateSubscriptions(raw: unknown): EventSubscription[] {
  const bad = (m: string): never => {
    throw new ArgumentInvalidError(m);
  };
  const list = Array.isArray(raw) ? raw : isObject(raw) && Array.isArray(raw['value']) ? (raw['value'] as unknown[]) : bad('Event subscriptions must be a JSON array (or {"value": [...]}).');
  if (list.length > 10) bad('A hub can have at most 10 event subscriptions.');
  const names = new Set<string>();
  return list.map((s, i) => {
    if (!isObject(s)) return bad(`value[${i}] must be an object.`);
    const name = typeof s['name'] === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(s['name']) ? s['name'] : bad(`value[${i}].name must be 1–64 letters, digits or '-'.`);
    if (names.has(name.toLowerCase())) bad(`Event subscription '${name}' is named twice.`);
    names.add(name.toLowerCase());
    const url = typeof s['url'] === 'string' && /^https?:\/\//i.test(s['url']) ? s['url'] : bad(`value[${i}].url must be an http(s) URL.`);
    const types = s['includedEventTypes'] ?? [...EVENT_TYPES.slice(0, 4)];
    if (!Array.isArray(types) || types.some((t) => !EVENT_TYPES.includes(t as EventType))) bad(`value[${i}].includedEventTypes must list some of ${EVENT_TYPES.join(', ')}.`);
    const text = (k: string) => (s[k] === undefined ? '' : typeof s[k] === 'string' ? (s[k] as string) : bad(`value[${i}].${k} must be a string.`));
    return { name, url, includedEventTypes: types as EventType[], subjectBeginsWith: text('subjectBeginsWith'), subjectEndsWith: text('subjectEndsWith') };
  });
}

export interface GridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: EventType;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

/**
 * Event Grid-style events (devguide §6.3): device created/deleted (from lifecycle events),
 * connected/disconnected (one per transition, not minute snapshots), and telemetry, POSTed as an
 * Event Grid array of one event to each subscription whose type and subject filters match.
 * Delivery is retried with backoff for up to `retryMs`, in the background: a slow subscriber
 * never holds up routing.
 */
export class EventGridPublisher {
  readonly #subs: TtlCache<EventSubscription[]>;
  readonly #closing = new AbortController();

  constructor(
    private readonly store: RoutingStore,
    private readonly log: Logger,
    private readonly retryMs = 60_000,
  ) {
    this.#subs = new TtlCache({ ttlMs: 5000 });
    setMaxListeners(0, this.#closing.signal); // every delivery in flight listens on it
  }

  changed(hub: string): void {
    this.#subs.delete(hub);
  }

  /** Stop retrying (shutdown): deliveries in flight give up. */
  close(): void {
    this.#closing.abort();
  }

  #subscriptions(hub: string): Promise<EventSubscription[]> {
    return this.#subs.get(hub, async () => validateSubscriptions(await this.store.getSubscriptions(hub)));
  }

  /** Lifecycle and connection events of a hub. */
  async event(hub: string, source: RouteSource, msg: D2CMessage, timestampNanos: number): Promise<void> {
    const subs = await this.#subscriptions(hub);
    if (subs.length === 0) return;
    const op = msg.applicationProperties['opType'] ?? '';
    const type: EventType | undefined =
      source === 'DeviceLifecycleEvents'
        ? op === 'createDeviceIdentity'
          ? 'Microsoft.Devices.DeviceCreated'
          : op === 'deleteDeviceIdentity'
            ? 'Microsoft.Devices.DeviceDeleted'
            : undefined
        : source === 'DeviceConnectionStateEvents'
          ? op === 'deviceConnected'
            ? 'Microsoft.Devices.DeviceConnected'
            : 'Microsoft.Devices.DeviceDisconnected'
          : undefined;
    if (!type) return;
    const deviceId = msg.applicationProperties['deviceId'] ?? '';
    const body = JSON.parse(Buffer.from(msg.body).toString('utf8')) as Record<string, unknown>;
    const data = source === 'DeviceLifecycleEvents' ? { twin: body, hubName: hub, deviceId } : body;
    this.#publish(hub, subs, gridEvent(hub, type, deviceId, new Date(Math.floor(timestampNanos / 1e6)).toISOString(), data));
  }

  /** DeviceTelemetry events for the messages of one routed batch. */
  async telemetry(hub: string, messages: D2CMessage[]): Promise<void> {
    const subs = (await this.#subscriptions(hub)).filter((s) => s.includedEventTypes.includes('Microsoft.Devices.DeviceTelemetry'));
    if (subs.length === 0) return;
    for (const msg of messages) {
      const json = decodeJsonBody(routingView(msg, undefined));
      const deviceId = msg.systemProperties['iothub-connection-device-id'] ?? '';
      const data = { body: json !== undefined ? json : Buffer.from(msg.body).toString('base64'), properties: msg.applicationProperties, systemProperties: msg.systemProperties };
      this.#publish(hub, subs, gridEvent(hub, 'Microsoft.Devices.DeviceTelemetry', deviceId, msg.systemProperties['iothub-enqueuedtime'] ?? new Date().toISOString(), data));
    }
  }

  #publish(hub: string, subs: EventSubscription[], event: GridEvent): void {
    for (const sub of subs) {
      if (!sub.includedEventTypes.includes(event.eventType)) continue;
      if (!event.subject.startsWith(sub.subjectBeginsWith) || !event.subject.endsWith(sub.subjectEndsWith)) continue;
      void this.#deliver(hub, sub, event);
    }
  }

  async #deliver(hub: string, sub: EventSubscription, event: GridEvent): Promise<void> {
    const until = Date.now() + this.retryMs;
    const signal = this.#closing.signal;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const res = await fetch(sub.url, { method: 'POST', headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification', 'aeg-subscription-name': sub.name.toUpperCase() }, body: JSON.stringify([event]), signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return;
        throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        if (Date.now() >= until || signal.aborted) {
          this.log.warn({ category: 'Routes', err, hub, subscription: sub.name, eventType: event.eventType }, 'event subscription delivery gave up');
          return;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt));
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    }
  }
}

function gridEvent(hub: string, eventType: EventType, deviceId: string, eventTime: string, data: Record<string, unknown>): GridEvent {
  return {
    id: randomUUID(),
    topic: `/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000000/RESOURCEGROUPS/OPENIOTHUB/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/${hub.toUpperCase()}`,
    subject: `devices/${deviceId}`,
    eventType,
    eventTime,
    data,
    dataVersion: '',
    metadataVersion: '1',
  };
}
