import type { D2CMessage } from '@openiothub/bus';
import { compileRoutingCondition, createScope, type CompiledCondition, type RoutingMessage } from '@openiothub/query';
import { BUILT_IN_ENDPOINT, customEndpoints, type CustomEndpoint, type Enrichment, type Route, type RouteSource, type RoutingDoc } from '../domain/routing-config.js';

/** Wire names of the system properties a condition can address (`$contentType` → `content-type`, …). */
export const SYSTEM_WIRE_NAMES: Readonly<Record<string, string>> = {
  contentType: 'content-type',
  contentEncoding: 'content-encoding',
  connectionDeviceId: 'iothub-connection-device-id',
  connectionModuleId: 'iothub-connection-module-id',
  connectionAuthMethod: 'iothub-connection-auth-method',
  connectionDeviceGenerationId: 'iothub-connection-auth-generation-id',
  enqueuedTime: 'iothub-enqueuedtime',
  messageId: 'message-id',
  correlationId: 'correlation-id',
  userId: 'user-id',
  to: 'to',
  'iothub-message-source': 'iothub-message-source',
  'dt-dataschema': 'dt-dataschema',
  'dt-subject': 'dt-subject',
};

/** The message as a routing condition sees it (devguide §5.2). */
export function routingView(msg: D2CMessage, twin: unknown): RoutingMessage {
  const systemProperties: Record<string, string | undefined> = {};
  for (const [query, wire] of Object.entries(SYSTEM_WIRE_NAMES)) systemProperties[query] = msg.systemProperties[wire];
  return { systemProperties, appProperties: msg.applicationProperties, body: msg.body, twin };
}

interface CompiledRoute {
  readonly route: Route;
  readonly condition: CompiledCondition;
  /** Canonical endpoint name (as the endpoint spells it; `events` for the built-in one). */
  readonly endpoint: string;
}

/** Where one message goes: each endpoint once, with the application properties it carries there. */
export interface Destination {
  readonly endpoint: string;
  readonly message: D2CMessage;
}

export interface Decision {
  readonly destinations: Destination[];
  /** Routes whose condition evaluated to something other than true/false (the "routes" diagnostic log). */
  readonly undefinedRoutes: string[];
  /** A device message that matched no route with the fallback disabled (d2c.telemetry.egress.orphaned). */
  readonly dropped: boolean;
  /** A device message that matched no route and goes to the fallback route's endpoint (d2c.telemetry.egress.fallback). */
  readonly fallback: boolean;
}

/**
 * A hub's routing configuration compiled for the hot path: conditions parsed once, routes grouped
 * by source, endpoint names resolved case-insensitively.
 */
export class RoutingTable {
  readonly #bySource = new Map<RouteSource, CompiledRoute[]>();
  readonly #fallback: CompiledRoute | undefined;
  readonly #enrichments: { enrichment: Enrichment; endpoints: Set<string> }[];
  readonly #twinSources = new Set<RouteSource>();
  readonly endpoints: ReadonlyMap<string, CustomEndpoint>;

  constructor(
    readonly hub: string,
    readonly doc: RoutingDoc,
  ) {
    const byName = new Map(customEndpoints(doc).map((e) => [e.name.toLowerCase(), e]));
    this.endpoints = byName;
    const canonical = (name: string) => (name.toLowerCase() === BUILT_IN_ENDPOINT ? BUILT_IN_ENDPOINT : (byName.get(name.toLowerCase())?.name ?? name));
    const twinInEnrichment = doc.enrichments.some((e) => e.value.toLowerCase().startsWith('$twin.'));
    for (const route of doc.routes) {
      if (!route.isEnabled) continue;
      const condition = compileRoutingCondition(route.condition);
      const list = this.#bySource.get(route.source) ?? [];
      list.push({ route, condition, endpoint: canonical(route.endpointNames[0]!) });
      this.#bySource.set(route.source, list);
      if (condition.references.twin) this.#twinSources.add(route.source);
    }
    const f = doc.fallbackRoute;
    this.#fallback = f.isEnabled ? { route: f, condition: compileRoutingCondition(f.condition), endpoint: canonical(f.endpointNames[0]!) } : undefined;
    this.#enrichments = doc.enrichments.map((enrichment) => ({ enrichment, endpoints: new Set(enrichment.endpointNames.map((n) => canonical(n))) }));
    if (twinInEnrichment) this.#twinSources.add('DeviceMessages');
  }

  /** Has the hub enabled routes of this source (IoT Hub distributed tracing's `isRoutingEnabled`)? */
  hasRoutes(source: RouteSource): boolean {
    return (this.#bySource.get(source)?.length ?? 0) > 0;
  }

  /** Does routing a message of this source need the sender's twin (a `$twin` condition or enrichment)? */
  needsTwin(source: RouteSource): boolean {
    return this.#twinSources.has(source);
  }

  /** Evaluates the routes of `source` for one message. `twin` is the sending device's twin, when {@link needsTwin}. */
  decide(source: RouteSource, msg: D2CMessage, twin?: unknown): Decision {
    const scope = createScope(routingView(msg, twin));
    const targets = new Set<string>();
    const undefinedRoutes: string[] = [];
    for (const r of this.#bySource.get(source) ?? []) {
      if (targets.has(r.endpoint)) continue; // one delivery per endpoint, however many routes match
      const v = r.condition.evaluateIn(scope);
      if (v === true) targets.add(r.endpoint);
      else if (v === undefined || v === null) undefinedRoutes.push(r.route.name);
    }
    let dropped = false;
    let fallback = false;
    if (targets.size === 0 && source === 'DeviceMessages') {
      if (this.#fallback && this.#fallback.condition.evaluateIn(scope) === true) {
        targets.add(this.#fallback.endpoint);
        fallback = true;
      } else dropped = true;
    }
    const destinations = [...targets].map((endpoint) => ({ endpoint, message: this.#enrich(endpoint, msg, twin) }));
    return { destinations, undefinedRoutes, dropped, fallback };
  }

  /** The routes of `source` a sample message matches, and what each condition evaluated to (test-route API). */
  test(source: RouteSource, msg: D2CMessage, twin: unknown): { route: Route; result: unknown }[] {
    const view = routingView(msg, twin);
    return this.doc.routes.filter((r) => r.source === source).map((route) => ({ route, result: compileRoutingCondition(route.condition).evaluate(view) }));
  }

  #enrich(endpoint: string, msg: D2CMessage, twin: unknown): D2CMessage {
    const applicable = this.#enrichments.filter((e) => e.endpoints.has(endpoint));
    if (applicable.length === 0) return msg;
    const app: Record<string, string> = { ...msg.applicationProperties };
    for (const { enrichment } of applicable) app[enrichment.key] = enrichmentValue(enrichment.value, this.hub, twin);
    return { ...msg, applicationProperties: app };
  }
}

/**
 * An enrichment's value for one message: `$iothubname`, a `$twin.…` path of the sender's twin
 * (objects as JSON), or the text itself — also when the twin path does not exist, as IoT Hub does.
 */
export function enrichmentValue(value: string, hub: string, twin: unknown): string {
  const lower = value.toLowerCase();
  if (lower === '$iothubname') return hub;
  if (!lower.startsWith('$twin.')) return value;
  let v: unknown = twin;
  for (const seg of value.slice('$twin.'.length).split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, seg)) return value;
    v = (v as Record<string, unknown>)[seg];
  }
  if (v === undefined) return value;
  return typeof v === 'string' ? v : JSON.stringify(v);
}
