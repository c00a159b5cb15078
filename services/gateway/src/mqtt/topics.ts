/**
 * IoT Hub's MQTT topic grammar as pure functions (spec/sdk-compat.md §4, seeds-protocols-ops §1).
 * IoT Hub is not a general broker: only these topics and filters exist.
 */

/** The identity a connection authenticated as. */
export interface Identity {
  readonly deviceId: string;
  readonly moduleId?: string | undefined;
}

/** A CONNECT username, parsed: `{host}/{deviceId}[/{moduleId}]/?api-version=…&model-id=…&…`. */
export interface ParsedUsername {
  readonly host: string;
  readonly deviceId: string;
  readonly moduleId: string | undefined;
  readonly params: ReadonlyMap<string, string>;
}

/**
 * Parse the username. The query part is optional (Paho samples send none) and may lack the `?`;
 * values may hold unencoded `:` and `;` (`model-id=dtmi:com:example:Thermostat;1`).
 */
export function parseUsername(username: string): ParsedUsername | undefined {
  const q = username.indexOf('?');
  const path = q === -1 ? username : username.slice(0, q);
  const query = q === -1 ? '' : username.slice(q + 1);
  const parts = path.split('/');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return undefined;
  const params = new Map<string, string>();
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const k = eq === -1 ? pair : pair.slice(0, eq);
    const v = eq === -1 ? '' : pair.slice(eq + 1);
    params.set(safeDecode(k) ?? k, safeDecode(v) ?? v);
  }
  return { host: parts[0] as string, deviceId: parts[1] as string, moduleId: parts[2], params };
}

/** ClientId is `deviceId` or `deviceId/moduleId`. */
export function parseClientId(clientId: string): Identity | undefined {
  const parts = clientId.split('/');
  if (parts.length === 1 && parts[0]) return { deviceId: parts[0] };
  if (parts.length === 2 && parts[0] && parts[1]) return { deviceId: parts[0], moduleId: parts[1] };
  return undefined;
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/** The telemetry topic prefix of an identity: `devices/{d}/messages/events/` or `devices/{d}/modules/{m}/messages/events/`. */
export function telemetryPrefix(id: Identity): string {
  return id.moduleId ? `devices/${id.deviceId}/modules/${id.moduleId}/messages/events/` : `devices/${id.deviceId}/messages/events/`;
}

/** Property bag keys the SDKs send for system properties, and the IoT Hub system property each is. */
export const SYSTEM_BAG_KEYS: Readonly<Record<string, string>> = {
  '$.mid': 'message-id',
  '$.cid': 'correlation-id',
  '$.uid': 'user-id',
  '$.to': 'to',
  '$.ct': 'content-type',
  '$.ce': 'content-encoding',
  '$.exp': 'absolute-expiry-time',
  '$.ifid': 'iothub-interface-id',
  '$.on': 'iothub-outputname',
  '$.sub': 'dt-subject',
};

/** A decoded property bag. */
export interface PropertyBag {
  readonly system: Record<string, string>;
  readonly application: Record<string, string>;
}

/**
 * Decode `k1=v1&k2=v2`: split on `&`, then at the first `=`, percent-decode both (a `+` stays a
 * plus: RFC 2396, as the SDKs encode spaces as `%20`). Returns undefined when an escape is broken.
 */
export function parsePropertyBag(bag: string): PropertyBag | undefined {
  const system: Record<string, string> = {};
  const application: Record<string, string> = {};
  for (const pair of bag.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = safeDecode(eq === -1 ? pair : pair.slice(0, eq));
    const value = safeDecode(eq === -1 ? '' : pair.slice(eq + 1));
    if (key === undefined || value === undefined || key === '') return undefined;
    const sys = SYSTEM_BAG_KEYS[key];
    if (sys) system[sys] = value;
    else application[key] = value;
  }
  return { system, application };
}

/** What a device PUBLISH addresses. */
export type PublishTarget =
  | { readonly kind: 'telemetry'; readonly bag: string }
  | { readonly kind: 'twin-get'; readonly rid: string }
  | { readonly kind: 'twin-patch-reported'; readonly rid: string }
  | { readonly kind: 'method-response'; readonly status: number; readonly rid: string }
  | { readonly kind: 'stream-response'; readonly status: number; readonly rid: string }
  | { readonly kind: 'forbidden' };

function queryParam(query: string, name: string): string | undefined {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if ((eq === -1 ? pair : pair.slice(0, eq)) === name) return eq === -1 ? '' : pair.slice(eq + 1);
  }
  return undefined;
}

/**
 * Classify a topic a device published to. Only the identity's own telemetry topic (with any
 * property bag, and the extra trailing `/` module output events carry) and the `$iothub` request
 * topics are allowed; anything else — another device's topic included — is forbidden.
 */
export function classifyPublish(topic: string, id: Identity): PublishTarget {
  const prefix = telemetryPrefix(id);
  if (topic.startsWith(prefix)) {
    let bag = topic.slice(prefix.length);
    if (bag.endsWith('/')) bag = bag.slice(0, -1); // sendOutputEvent appends a '/'
    if (bag.includes('/')) return { kind: 'forbidden' };
    return { kind: 'telemetry', bag };
  }
  if (topic === prefix.slice(0, -1)) return { kind: 'telemetry', bag: '' };
  const twin = /^\$iothub\/twin\/(GET|PATCH\/properties\/reported)\/\?(.*)$/.exec(topic);
  if (twin) {
    const rid = queryParam(twin[2] as string, '$rid');
    if (!rid) return { kind: 'forbidden' };
    return twin[1] === 'GET' ? { kind: 'twin-get', rid } : { kind: 'twin-patch-reported', rid };
  }
  const method = /^\$iothub\/methods\/res\/(\d{3})\/\?(.*)$/.exec(topic);
  if (method) {
    const rid = queryParam(method[2] as string, '$rid');
    if (!rid) return { kind: 'forbidden' };
    return { kind: 'method-response', status: Number(method[1]), rid };
  }
  const stream = /^\$iothub\/streams\/res\/(\d{3})\/\?(.*)$/.exec(topic);
  if (stream) {
    const rid = queryParam(stream[2] as string, '$rid');
    if (!rid) return { kind: 'forbidden' };
    return { kind: 'stream-response', status: Number(stream[1]), rid };
  }
  return { kind: 'forbidden' };
}

/** The topic filters IoT Hub supports, by what they subscribe to. */
export const SUBSCRIPTION_KINDS = ['c2d', 'methods', 'twin-responses', 'desired', 'inputs', 'streams', 'stream-responses'] as const;
export type SubscriptionKind = (typeof SUBSCRIPTION_KINDS)[number];

/** Which supported subscription a filter is for this identity, or undefined when it is not allowed. */
export function classifySubscription(filter: string, id: Identity): SubscriptionKind | undefined {
  if (filter === '$iothub/methods/POST/#') return 'methods';
  if (filter === '$iothub/twin/res/#') return 'twin-responses';
  // device streams (seeds-protocols-ops §2.3): requests, and the hub's answers to the device's responses
  if (filter === '$iothub/streams/POST/#' && !id.moduleId) return 'streams';
  if (filter === '$iothub/streams/res/#' && !id.moduleId) return 'stream-responses';
  if (filter === '$iothub/twin/PATCH/properties/desired/#') return 'desired';
  // modules never get C2D (sdk-compat §4.2); devices have no inputs
  if (!id.moduleId && filter === `devices/${id.deviceId}/messages/devicebound/#`) return 'c2d';
  if (id.moduleId && filter === `devices/${id.deviceId}/modules/${id.moduleId}/inputs/#`) return 'inputs';
  return undefined;
}

/** The topic filter of a subscription kind for an identity (to restore persisted sessions). */
export function filterOf(kind: SubscriptionKind, id: Identity): string {
  switch (kind) {
    case 'methods':
      return '$iothub/methods/POST/#';
    case 'twin-responses':
      return '$iothub/twin/res/#';
    case 'streams':
      return '$iothub/streams/POST/#';
    case 'stream-responses':
      return '$iothub/streams/res/#';
    case 'desired':
      return '$iothub/twin/PATCH/properties/desired/#';
    case 'c2d':
      return `devices/${id.deviceId}/messages/devicebound/#`;
    case 'inputs':
      return `devices/${id.deviceId}/modules/${id.moduleId ?? ''}/inputs/#`;
  }
}

/** Is `username` a DPS registration (`{idScope}/registrations/{registrationId}/…`)? */
export function isDpsUsername(username: string): boolean {
  return /^[^/]+\/registrations\/[^/]+\//.test(username);
}
