/**
 * A hub's routing configuration in the shape of ARM's `properties.routing` (devguide §4), and the
 * one place it is validated. Open IoT Hub's custom endpoint kinds are blob storage containers
 * (Azure Blob API), webhooks and NATS/JetStream subjects (our stand-in for Service Bus queues);
 * Service Bus, Event Hubs and Cosmos DB endpoint lists are refused with a clear error.
 */
import { ArgumentInvalidError } from '@openiothub/errors';
import { parseExpression, QuerySyntaxError } from '@openiothub/query';

export const ROUTE_SOURCES = ['DeviceMessages', 'TwinChangeEvents', 'DeviceLifecycleEvents', 'ModuleLifecycleEvents', 'DeviceConnectionStateEvents'] as const;
export type RouteSource = (typeof ROUTE_SOURCES)[number];

/** The built-in endpoint's name in routes. */
export const BUILT_IN_ENDPOINT = 'events';
export const DEFAULT_FILE_NAME_FORMAT = '{iothub}/{partition}/{YYYY}/{MM}/{DD}/{HH}/{mm}';
export const FILE_NAME_TOKENS = ['{iothub}', '{partition}', '{YYYY}', '{MM}', '{DD}', '{HH}', '{mm}'] as const;

/** IoT Hub's limits on paid hubs (devguide §4.2). */
export const LIMITS = { routes: 100, customEndpoints: 10, enrichments: 10 } as const;

export type BlobEncoding = 'avro' | 'avroDeflate' | 'json';

export interface StorageContainerEndpoint {
  name: string;
  connectionString: string;
  containerName: string;
  fileNameFormat: string;
  batchFrequencyInSeconds: number;
  maxChunkSizeInBytes: number;
  encoding: BlobEncoding;
}

export interface WebhookEndpoint {
  name: string;
  url: string;
  /** Extra request headers (an API key, say). */
  headers: Record<string, string>;
  /** How long a message is retried before it is dead-lettered (dropped and counted); IoT Hub retries for an hour. */
  retryPeriodInSeconds: number;
}

export interface NatsSubjectEndpoint {
  name: string;
  /** Read-only: where routed messages are stored (stream EP_{hub}_{name}). */
  subject?: string;
}

export interface Route {
  name: string;
  source: RouteSource;
  condition: string;
  endpointNames: string[];
  isEnabled: boolean;
}

export interface Enrichment {
  key: string;
  value: string;
  endpointNames: string[];
}

export interface RoutingDoc {
  endpoints: {
    storageContainers: StorageContainerEndpoint[];
    webhooks: WebhookEndpoint[];
    natsSubjects: NatsSubjectEndpoint[];
  };
  routes: Route[];
  fallbackRoute: Route;
  enrichments: Enrichment[];
}

export type EndpointKind = 'blob' | 'webhook' | 'nats';
export type CustomEndpoint = ({ kind: 'blob' } & StorageContainerEndpoint) | ({ kind: 'webhook' } & WebhookEndpoint) | ({ kind: 'nats' } & NatsSubjectEndpoint);

export function defaultRouting(): RoutingDoc {
  return {
    endpoints: { storageContainers: [], webhooks: [], natsSubjects: [] },
    routes: [],
    fallbackRoute: { name: '$fallback', source: 'DeviceMessages', condition: 'true', endpointNames: [BUILT_IN_ENDPOINT], isEnabled: true },
    enrichments: [],
  };
}

/** Every custom endpoint of a document, tagged with its kind. */
export function customEndpoints(doc: RoutingDoc): CustomEndpoint[] {
  return [
    ...doc.endpoints.storageContainers.map((e) => ({ kind: 'blob' as const, ...e })),
    ...doc.endpoints.webhooks.map((e) => ({ kind: 'webhook' as const, ...e })),
    ...doc.endpoints.natsSubjects.map((e) => ({ kind: 'nats' as const, ...e })),
  ];
}

export interface ValidationOptions {
  /** Lower bound of `batchFrequencyInSeconds` (IoT Hub: 60; tests lower it). */
  readonly minBatchFrequencySeconds?: number;
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const RESERVED_ENDPOINTS = new Set(['events', 'filenotifications', '$default', 'operationsmonitoringevents']);
const UNSUPPORTED = ['serviceBusQueues', 'serviceBusTopics', 'eventHubs', 'cosmosDBSqlCollections', 'cosmosDBSqlContainers'];

const bad = (message: string): never => {
  throw new ArgumentInvalidError(message);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, what: string, opts: { optional?: string } = {}): string => {
  if (v === undefined || v === null) return opts.optional !== undefined ? opts.optional : bad(`${what} is required.`);
  return typeof v === 'string' ? v : bad(`${what} must be a string.`);
};
const list = (v: unknown, what: string): unknown[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : bad(`${what} must be an array.`));
const int = (v: unknown, what: string, def: number, min: number, max: number): number => {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return bad(`${what} must be an integer from ${min} to ${max}.`);
  return v;
};

/** Does a condition parse? The syntax error, worded for a client, if not. */
export function conditionError(condition: string): string | undefined {
  try {
    parseExpression(condition.trim() === '' ? 'true' : condition, { dialect: 'routing' });
    return undefined;
  } catch (err) {
    if (err instanceof QuerySyntaxError) return err.message;
    throw err;
  }
}

function route(raw: unknown, what: string): Route {
  if (!isObject(raw)) return bad(`${what} must be an object.`);
  const name = str(raw['name'], `${what}.name`);
  const source = str(raw['source'], `${what}.source`, { optional: 'DeviceMessages' });
  const canonical = ROUTE_SOURCES.find((s) => s.toLowerCase() === source.toLowerCase());
  if (!canonical) bad(`${what}.source '${source}' is not one of ${ROUTE_SOURCES.join(', ')}.`);
  const condition = str(raw['condition'], `${what}.condition`, { optional: 'true' });
  const syntax = conditionError(condition);
  if (syntax) bad(`${what}.condition is not a valid routing query: ${syntax}`);
  const endpointNames = list(raw['endpointNames'], `${what}.endpointNames`).map((e, i) => str(e, `${what}.endpointNames[${i}]`));
  if (endpointNames.length !== 1) bad(`${what}.endpointNames must name exactly one endpoint.`);
  const isEnabled = raw['isEnabled'] === undefined ? true : raw['isEnabled'];
  if (typeof isEnabled !== 'boolean') bad(`${what}.isEnabled must be true or false.`);
  return { name, source: canonical!, condition, endpointNames, isEnabled: isEnabled as boolean };
}

/**
 * Validates a routing document sent by a client and fills in defaults. `previous` is the stored
 * document: a blob endpoint's encoding cannot change once created (checklist D 49).
 * Throws ArgumentInvalid with a message naming the offending field.
 */
export function validateRouting(raw: unknown, previous: RoutingDoc | undefined, opts: ValidationOptions = {}): RoutingDoc {
  if (!isObject(raw)) return bad('The routing document must be a JSON object.');
  const endpointsRaw = raw['endpoints'] ?? {};
  if (!isObject(endpointsRaw)) return bad('endpoints must be an object.');
  for (const key of UNSUPPORTED) {
    if (list(endpointsRaw[key], `endpoints.${key}`).length > 0) bad(`endpoints.${key} are not supported by Open IoT Hub; use natsSubjects (queues), webhooks or storageContainers.`);
  }
  const minFreq = opts.minBatchFrequencySeconds ?? 60;
  const storageContainers = list(endpointsRaw['storageContainers'], 'endpoints.storageContainers').map((e, i): StorageContainerEndpoint => {
    const what = `endpoints.storageContainers[${i}]`;
    if (!isObject(e)) return bad(`${what} must be an object.`);
    const fileNameFormat = str(e['fileNameFormat'], `${what}.fileNameFormat`, { optional: DEFAULT_FILE_NAME_FORMAT });
    const missing = FILE_NAME_TOKENS.filter((t) => !fileNameFormat.includes(t));
    if (missing.length > 0) bad(`${what}.fileNameFormat must contain every one of ${FILE_NAME_TOKENS.join(' ')}; missing ${missing.join(' ')}.`);
    const encodingRaw = str(e['encoding'], `${what}.encoding`, { optional: 'avro' });
    const encoding = (['avro', 'avroDeflate', 'json'] as const).find((x) => x.toLowerCase() === encodingRaw.toLowerCase());
    if (!encoding) bad(`${what}.encoding must be avro, avroDeflate or json.`);
    const containerName = str(e['containerName'], `${what}.containerName`);
    if (!/^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$/.test(containerName)) bad(`${what}.containerName '${containerName}' is not a valid blob container name.`);
    return {
      name: str(e['name'], `${what}.name`),
      connectionString: str(e['connectionString'], `${what}.connectionString`),
      containerName,
      fileNameFormat,
      batchFrequencyInSeconds: int(e['batchFrequencyInSeconds'], `${what}.batchFrequencyInSeconds`, 300, minFreq, 720),
      maxChunkSizeInBytes: int(e['maxChunkSizeInBytes'], `${what}.maxChunkSizeInBytes`, 314_572_800, 10_485_760, 524_288_000),
      encoding: encoding!,
    };
  });
  const webhooks = list(endpointsRaw['webhooks'], 'endpoints.webhooks').map((e, i): WebhookEndpoint => {
    const what = `endpoints.webhooks[${i}]`;
    if (!isObject(e)) return bad(`${what} must be an object.`);
    const url = str(e['url'], `${what}.url`);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      bad(`${what}.url is not a URL.`);
    }
    if (parsed!.protocol !== 'https:' && parsed!.protocol !== 'http:') bad(`${what}.url must be http or https.`);
    const headers: Record<string, string> = {};
    const rawHeaders = e['headers'] ?? {};
    if (!isObject(rawHeaders)) bad(`${what}.headers must be an object of strings.`);
    for (const [k, v] of Object.entries(rawHeaders as Record<string, unknown>)) headers[k] = str(v, `${what}.headers.${k}`);
    return { name: str(e['name'], `${what}.name`), url, headers, retryPeriodInSeconds: int(e['retryPeriodInSeconds'], `${what}.retryPeriodInSeconds`, 3600, 1, 86_400) };
  });
  const natsSubjects = list(endpointsRaw['natsSubjects'], 'endpoints.natsSubjects').map((e, i): NatsSubjectEndpoint => {
    if (!isObject(e)) return bad(`endpoints.natsSubjects[${i}] must be an object.`);
    return { name: str(e['name'], `endpoints.natsSubjects[${i}].name`) };
  });
  const doc: RoutingDoc = { endpoints: { storageContainers, webhooks, natsSubjects }, routes: [], fallbackRoute: defaultRouting().fallbackRoute, enrichments: [] };

  const endpoints = customEndpoints(doc);
  if (endpoints.length > LIMITS.customEndpoints) bad(`A hub can have at most ${LIMITS.customEndpoints} custom endpoints.`);
  const names = new Set<string>();
  for (const e of endpoints) {
    if (!NAME.test(e.name)) bad(`Endpoint name '${e.name}' must be 1–64 letters, digits, '.', '_' or '-'.`);
    if (RESERVED_ENDPOINTS.has(e.name.toLowerCase())) bad(`Endpoint name '${e.name}' is reserved.`);
    if (names.has(e.name.toLowerCase())) bad(`Endpoint name '${e.name}' is used twice.`);
    names.add(e.name.toLowerCase());
  }
  for (const e of storageContainers) {
    const before = previous?.endpoints.storageContainers.find((p) => p.name.toLowerCase() === e.name.toLowerCase());
    if (before && before.encoding !== e.encoding) bad(`The encoding of storage endpoint '${e.name}' cannot be changed after it is created (it is ${before.encoding}).`);
  }
  const known = (what: string, list: string[]) => {
    for (const n of list) if (n.toLowerCase() !== BUILT_IN_ENDPOINT && !names.has(n.toLowerCase())) bad(`${what} names endpoint '${n}', which does not exist.`);
  };

  const routes = list(raw['routes'], 'routes').map((r, i) => route(r, `routes[${i}]`));
  if (routes.length > LIMITS.routes) bad(`A hub can have at most ${LIMITS.routes} routes.`);
  const routeNames = new Set<string>();
  for (const [i, r] of routes.entries()) {
    if (!NAME.test(r.name)) bad(`Route name '${r.name}' must be 1–64 letters, digits, '.', '_' or '-'.`);
    if (routeNames.has(r.name.toLowerCase())) bad(`Route name '${r.name}' is used twice.`);
    routeNames.add(r.name.toLowerCase());
    known(`routes[${i}]`, r.endpointNames);
  }
  doc.routes = routes;

  if (raw['fallbackRoute'] !== undefined && raw['fallbackRoute'] !== null) {
    const f = route({ name: '$fallback', condition: 'true', endpointNames: [BUILT_IN_ENDPOINT], ...(raw['fallbackRoute'] as object) }, 'fallbackRoute');
    if (f.source !== 'DeviceMessages') bad('fallbackRoute.source must be DeviceMessages.');
    known('fallbackRoute', f.endpointNames);
    doc.fallbackRoute = f;
  }

  const enrichments = list(raw['enrichments'], 'enrichments').map((e, i): Enrichment => {
    const what = `enrichments[${i}]`;
    if (!isObject(e)) return bad(`${what} must be an object.`);
    const key = str(e['key'], `${what}.key`);
    const value = str(e['value'], `${what}.value`);
    if (key.length === 0 || key.length > 64) bad(`${what}.key must be 1–64 characters.`);
    if (value.length === 0 || value.length > 1024) bad(`${what}.value must be 1–1024 characters.`);
    const endpointNames = list(e['endpointNames'], `${what}.endpointNames`).map((n, k) => str(n, `${what}.endpointNames[${k}]`));
    if (endpointNames.length === 0) bad(`${what}.endpointNames must name at least one endpoint.`);
    known(what, endpointNames);
    return { key, value, endpointNames };
  });
  if (enrichments.length > LIMITS.enrichments) bad(`A hub can have at most ${LIMITS.enrichments} message enrichments.`);
  const keys = new Set<string>();
  for (const e of enrichments) {
    if (keys.has(e.key.toLowerCase())) bad(`Enrichment key '${e.key}' is used twice.`);
    keys.add(e.key.toLowerCase());
  }
  doc.enrichments = enrichments;
  return doc;
}
