import { ArgumentInvalidError } from '@openiothub/errors';
import { unaryHandler, type routingV1 } from '@openiothub/proto';
import { customEndpoints, validateRouting, type RoutingDoc, type ValidationOptions } from '../domain/routing-config.js';
import { testAllRoutes, testRoute } from '../domain/test-route.js';
import { validateSubscriptions } from '../engine/event-grid.js';
import type { RoutingStore } from '../store/routing-store.js';
import { subjects } from '@openiothub/bus';

function required(v: string, name: string): string {
  if (!v) throw new ArgumentInvalidError(`${name} is required.`);
  return v;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ArgumentInvalidError(`${what} is not valid JSON.`);
  }
}

/** The document as clients see it: NATS endpoints show the subject their messages are stored under. */
function present(hub: string, doc: RoutingDoc): RoutingDoc {
  return { ...doc, endpoints: { ...doc.endpoints, natsSubjects: doc.endpoints.natsSubjects.map((e) => ({ name: e.name, subject: subjects.endpoint(hub, e.name) })) } };
}

/** The gRPC RoutingService: configuration, test-route, endpoint health, event subscriptions. */
export function routingHandlers(deps: { store: RoutingStore; validation: ValidationOptions; changed: (hub: string) => void }): routingV1.RoutingServiceServer {
  const { store } = deps;
  return {
    getRouting: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const { doc, etag } = await store.get(hub);
      return { routingJson: JSON.stringify(present(hub, doc)), etag };
    }),
    putRouting: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const raw = parseJson(req.routingJson, 'The routing document');
      const { doc, etag } = await store.put(hub, req.ifMatch, (previous) => validateRouting(raw, previous, deps.validation));
      deps.changed(hub);
      return { routingJson: JSON.stringify(present(hub, doc)), etag };
    }),
    testRoute: unaryHandler(async (req) => ({ json: JSON.stringify(testRoute(req.requestJson)) })),
    testAllRoutes: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      return { json: JSON.stringify(testAllRoutes(hub, (await store.get(hub)).doc, req.requestJson)) };
    }),
    getEndpointHealth: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const [{ doc }, rows] = await Promise.all([store.get(hub), store.health(hub)]);
      const byKey = new Map(rows.map((r) => [r.endpoint, r]));
      const value = customEndpoints(doc).map((e) => {
        const row = byKey.get(e.name.toLowerCase());
        return {
          endpointId: e.name,
          healthStatus: row?.status ?? 'unknown',
          lastKnownError: row?.lastError ?? null,
          lastKnownErrorTime: row?.lastErrorTime?.toISOString() ?? null,
          lastSuccessfulSendAttemptTime: row?.lastSuccess?.toISOString() ?? null,
        };
      });
      return { json: JSON.stringify({ value }) };
    }),
    getEventSubscriptions: unaryHandler(async (req) => ({ json: JSON.stringify({ value: await store.getSubscriptions(required(req.hub, 'hub')) }) })),
    putEventSubscriptions: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const subs = validateSubscriptions(parseJson(req.json, 'The event subscriptions'));
      await store.putSubscriptions(hub, subs);
      deps.changed(hub);
      return { json: JSON.stringify({ value: subs }) };
    }),
  };
}
