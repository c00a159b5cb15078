import { randomUUID } from 'node:crypto';
import type { JsMsg } from '@nats-io/jetstream';
import { context, endWith, extractTrace, SpanKind, trace, tracer, tracingEnabled, type Span } from '@openiothub/tracing';
import type { AzureCounter, HubMetrics } from '@openiothub/runtime';
import { decodeD2C, fromSubjectToken, headers as h, partitionOf, type D2CMessage, type HubInfo } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import { Counter, type Registry } from 'prom-client';
import type { RouteSource } from '../domain/routing-config.js';
import type { Dispatcher } from './dispatcher.js';
import type { EventGridPublisher } from './event-grid.js';
import type { RoutingTable } from './routing-table.js';
import type { RoutingTables, TwinLookup } from './tables.js';

export interface RouterDeps {
  readonly tables: RoutingTables;
  readonly twins: TwinLookup;
  readonly dispatcher: Dispatcher;
  readonly hubInfo: HubInfo;
  readonly eventGrid: EventGridPublisher;
  readonly log: Logger;
  readonly metrics: Registry;
  /** Azure Monitor's metrics by hub (egress). */
  readonly hubMetrics?: HubMetrics;
}

/** Which routing source an EVENTS message belongs to, by its `iothub-message-source`. */
const SOURCES: Readonly<Record<string, RouteSource>> = {
  twinchangeevents: 'TwinChangeEvents',
  devicelifecycleevents: 'DeviceLifecycleEvents',
  modulelifecycleevents: 'ModuleLifecycleEvents',
  deviceconnectionstateevents: 'DeviceConnectionStateEvents',
};

/**
 * Evaluates routes for batches read from the ingest partitions (telemetry) and from stream EVENTS
 * (twin changes, lifecycle, connection state) and hands each message to its endpoints. A batch is
 * acknowledged only after every endpoint stored its messages, so a crash routes it again (and the
 * de-duplication ids keep the second copy out).
 */
export class Router {
  readonly #d: RouterDeps;
  readonly #routed: Counter<'endpoint'>;
  readonly #undefinedLogged = new Map<string, number>();
  /** Per stream: resolves when the previous batch has issued its publishes (batches overlap, their publishes stay in order). */
  readonly #issued = new Map<string, Promise<void>>();

  constructor(deps: RouterDeps) {
    this.#d = deps;
    this.#routed = new Counter({ name: 'openiothub_routing_messages_total', help: 'messages handed to endpoints, by endpoint kind', labelNames: ['endpoint'], registers: [deps.metrics] });
  }

  /** Routes one batch of telemetry from a hub's ingest partition. */
  async routeTelemetry(hub: string, partition: number, stream: string, batch: JsMsg[]): Promise<void> {
    const previous = this.#issued.get(stream);
    let issued!: () => void;
    this.#issued.set(stream, new Promise<void>((r) => (issued = r)));
    try {
      const table = await this.#d.tables.get(hub);
      const messages = batch.map((m) => decodeD2C(m.headers, m.data));
      const twins = table.needsTwin('DeviceMessages') ? await this.#twinsOf(hub, messages) : undefined;
      await previous;
      await this.#routeBatch(table, hub, partition, stream, batch, messages, twins, issued);
    } finally {
      issued();
    }
  }

  async #routeBatch(table: RoutingTable, hub: string, partition: number, stream: string, batch: JsMsg[], messages: D2CMessage[], twins: Map<string, unknown> | undefined, issued: () => void): Promise<void> {
    const sends: Promise<unknown>[] = [];
    const traced = tracingEnabled();
    messages.forEach((msg, i) => {
      const deviceId = msg.systemProperties['iothub-connection-device-id'] ?? '';
      // module twins are not queryable in routes: a module's message sees no twin
      const twin = twins && !msg.systemProperties['iothub-connection-module-id'] ? twins.get(deviceId) : undefined;
      const decision = table.decide('DeviceMessages', msg, twin);
      // matched no route with the fallback off: counted once, as Azure Monitor names it
      if (decision.dropped) this.#d.hubMetrics?.count('d2c.telemetry.egress.orphaned', hub);
      this.#logUndefined(hub, decision.undefinedRoutes);
      const ingress = traced ? ingressSpan(batch[i]!, hub, deviceId, table) : undefined;
      const mine: Promise<unknown>[] = [];
      for (const dest of decision.destinations) {
        const kind = dest.endpoint === 'events' ? 'events' : (table.endpoints.get(dest.endpoint.toLowerCase())?.kind ?? 'unknown');
        this.#routed.inc({ endpoint: kind });
        const send = this.#d.dispatcher.send(table, partition, dest, `${stream}:${batch[i]!.seq}`).then((r) => {
          this.#countEgress(hub, kind, decision.fallback);
          return r;
        });
        mine.push(ingress ? endWith(egressSpan(ingress, dest.endpoint, kind), send) : send);
      }
      sends.push(...mine);
      if (ingress) void endWith(ingress, Promise.all(mine)).catch(() => undefined);
    });
    issued();
    await Promise.all(sends);
    await this.#d.eventGrid.telemetry(hub, messages);
    for (const m of batch) m.ack();
  }

  /** Azure's egress metrics (protocols-ops §7.1): every delivery to every endpoint, by endpoint kind. */
  #countEgress(hub: string, kind: string, fallback: boolean): void {
    const m = this.#d.hubMetrics;
    if (!m) return;
    m.count('d2c.telemetry.egress.success', hub);
    if (fallback) m.count('d2c.telemetry.egress.fallback', hub);
    const endpoint = EGRESS_METRIC[kind];
    if (endpoint) m.count(endpoint, hub);
  }

  /** Routes one batch from stream EVENTS (every hub's non-telemetry events) and publishes Event Grid events. */
  async routeEvents(stream: string, batch: JsMsg[], serves: (hub: string) => boolean = () => true): Promise<void> {
    const sends: Promise<unknown>[] = [];
    for (const m of batch) {
      const hub = m.headers?.get(h.hubName) || fromSubjectToken(m.subject.split('.')[1] ?? '');
      const source = SOURCES[(m.headers?.get(h.messageSource) ?? '').toLowerCase()];
      const deviceId = m.headers?.get(h.deviceId) ?? '';
      if (!hub || !source || !deviceId || !serves(hub)) continue;
      if (source === 'TwinChangeEvents') this.#d.twins.changed(hub, deviceId);
      const msg = eventMessage(m, source);
      let table: RoutingTable;
      let info: { partitions: number };
      try {
        [table, info] = await Promise.all([this.#d.tables.get(hub), this.#d.hubInfo.get(hub)]);
      } catch (err) {
        // a deleted hub (or another deployment's, on a shared NATS) must not stall every hub's events
        if (!(err instanceof DomainError && err.code === 'IotHubNotFound')) throw err;
        this.#logGone(hub);
        continue;
      }
      const twin = table.needsTwin(source) && !m.headers?.get(h.moduleId) ? await this.#d.twins.get(hub, deviceId) : undefined;
      const decision = table.decide(source, msg, twin);
      this.#logUndefined(hub, decision.undefinedRoutes);
      const partition = partitionOf(deviceId, info.partitions);
      for (const dest of decision.destinations) sends.push(this.#d.dispatcher.send(table, partition, dest, `${stream}:${m.seq}`));
      sends.push(this.#d.eventGrid.event(hub, source, msg, m.info.timestampNanos));
    }
    await Promise.all(sends);
    for (const m of batch) m.ack();
  }

  async #twinsOf(hub: string, messages: D2CMessage[]): Promise<Map<string, unknown>> {
    const ids = new Set<string>();
    for (const msg of messages) if (!msg.systemProperties['iothub-connection-module-id']) ids.add(msg.systemProperties['iothub-connection-device-id'] ?? '');
    const entries = await Promise.all([...ids].map(async (id) => [id, await this.#d.twins.get(hub, id)] as const));
    return new Map(entries);
  }

  /** Events of a hub that does not exist are dropped, with a warning at most once a minute per hub. */
  #logGone(hub: string): void {
    const key = `gone\n${hub}`;
    const now = Date.now();
    if ((this.#undefinedLogged.get(key) ?? 0) > now) return;
    this.#undefinedLogged.set(key, now + 60_000);
    this.#d.log.warn({ hub }, 'events of a hub that does not exist are dropped');
  }

  /** The "routes" diagnostic log: a condition that evaluated to undefined/null (at most once a minute per route). */
  #logUndefined(hub: string, routes: string[]): void {
    const now = Date.now();
    for (const route of routes) {
      const key = `${hub}\n${route}`;
      if ((this.#undefinedLogged.get(key) ?? 0) > now) continue;
      this.#undefinedLogged.set(key, now + 60_000);
      this.#d.log.warn({ category: 'Routes', hub, route, operationName: 'undefinedRouteEvaluation' }, 'route condition evaluated to undefined: the message did not match');
    }
  }
}

/**
 * A non-telemetry event as endpoints receive it (devguide §6): `$`-less system properties
 * (content type and encoding, message source, enqueued time, device) and the notification's
 * properties (opType, hubName, deviceId, operationTimestamp, iothub-message-schema, moduleId).
 */
export function eventMessage(m: JsMsg, source: RouteSource): D2CMessage {
  const system: Record<string, string> = {};
  const application: Record<string, string> = {};
  for (const [k, values] of m.headers ?? []) {
    const v = values[0] ?? '';
    const key = k.toLowerCase();
    if (key === 'content-type' || key === 'content-encoding' || key === h.messageSource.toLowerCase()) system[key] = v;
    else if (key !== 'nats-msg-id') application[k] = v;
  }
  system['iothub-enqueuedtime'] = new Date(Math.floor(m.info.timestampNanos / 1_000_000)).toISOString();
  system['message-id'] = randomUUID();
  system['iothub-connection-device-id'] = m.headers?.get(h.deviceId) ?? '';
  const moduleId = m.headers?.get(h.moduleId);
  if (moduleId) system['iothub-connection-module-id'] = moduleId;
  system['iothub-message-source'] ??= source;
  return { body: m.data, systemProperties: system, applicationProperties: application };
}

/** Azure's per-endpoint-kind delivery metrics; NATS subjects stand in for Service Bus queues. */
const EGRESS_METRIC: Readonly<Record<string, AzureCounter>> = {
  events: 'd2c.endpoints.egress.builtIn.events',
  blob: 'd2c.endpoints.egress.storage',
  nats: 'd2c.endpoints.egress.serviceBusQueues',
};

/**
 * IoT Hub distributed tracing (protocols-ops §7.6): routing's ingress span continues the trace the
 * gateway started (context from the message headers); each endpoint write is an egress span.
 */
function ingressSpan(m: JsMsg, hub: string, deviceId: string, table: RoutingTable): Span {
  const parent = extractTrace((k) => m.headers?.get(k));
  return tracer('routing').startSpan('DiagnosticIoTHubIngress', { kind: SpanKind.CONSUMER, attributes: { 'iothub.hub': hub, 'iothub.deviceId': deviceId, 'iothub.isRoutingEnabled': table.hasRoutes('DeviceMessages') } }, parent);
}

function egressSpan(ingress: Span, endpointName: string, endpointType: string): Span {
  return tracer('routing').startSpan('DiagnosticIoTHubEgress', { kind: SpanKind.PRODUCER, attributes: { 'iothub.endpointName': endpointName, 'iothub.endpointType': endpointType === 'events' ? 'EventHub' : endpointType } }, trace.setSpan(context.active(), ingress));
}
