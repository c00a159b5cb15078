/**
 * IoT Hub's quota table (devguide §22): operation throttles per second for a SKU and unit count,
 * and the daily message quota. "unlimited" (the self-hosting default) throttles nothing.
 */
export type Operation =
  | 'identity'
  | 'connect'
  | 'd2c'
  | 'c2dSend'
  | 'c2dReceive'
  | 'fileUpload'
  | 'fileNotification'
  | 'methods'
  | 'twinRead'
  | 'twinUpdate'
  | 'jobs'
  | 'configurations';

type Tier = 1 | 2 | 3;

const TIER: Readonly<Record<string, Tier>> = { F1: 1, B1: 1, S1: 1, B2: 2, S2: 2, B3: 3, S3: 3 };

/** Per unit and tier: [tier 1 (Free/B1/S1), tier 2 (B2/S2), tier 3 (B3/S3)] — or a function of units. */
const TABLE: Readonly<Record<Operation, (tier: Tier, units: number) => number | undefined>> = {
  identity: (t, u) => (t === 3 ? 83.33 : 1.67) * u,
  connect: (t, u) => (t === 1 ? Math.max(100, 12 * u) : t === 2 ? 120 * u : 6000 * u),
  d2c: (t, u) => (t === 1 ? Math.max(100, 12 * u) : t === 2 ? 120 * u : 6000 * u),
  c2dSend: (t, u) => (t === 3 ? 83.33 : 1.67) * u,
  c2dReceive: (t, u) => (t === 3 ? 833.33 : 16.67) * u,
  fileUpload: (t, u) => (t === 3 ? 83.33 : 1.67) * u,
  // the upload's completion notice is metered, not throttled (the throttle counts initiations)
  fileNotification: () => undefined,
  // 160 KB/s, 480 KB/s, 24 MB/s per unit, metered in 4 KB chunks
  methods: (t, u) => (t === 1 ? 40 : t === 2 ? 120 : 6000) * u,
  twinRead: (t, u) => (t === 1 ? 100 : t === 2 ? Math.max(100, 10 * u) : 500 * u),
  twinUpdate: (t, u) => (t === 1 ? 50 : t === 2 ? Math.max(50, 5 * u) : 250 * u),
  jobs: (t, u) => (t === 3 ? 83.33 : 1.67) * u,
  configurations: (_t, u) => 0.33 * u,
};

/**
 * Operations of the standard tier only (protocols-ops §0.1): C2D, twins, direct methods, jobs,
 * configurations. A Basic hub (B1-B3) has telemetry, identities, queries, file upload and routing.
 */
const STANDARD_ONLY: ReadonlySet<Operation> = new Set<Operation>(['c2dSend', 'c2dReceive', 'methods', 'twinRead', 'twinUpdate', 'jobs', 'configurations']);

/**
 * The standard-tier feature a REST request uses, or undefined when Basic hubs have it too. Twin
 * queries (`POST /devices/query`, metered as twin reads) are Basic too; device streams are not.
 */
export function standardFeatureOf(op: Operation | undefined, path: readonly string[]): string | undefined {
  if (path[0] === 'devices' && path[1] === 'query') return undefined;
  if (path[0] === 'twins' && (path[2] === 'streams' || path[4] === 'streams')) return 'Device streams';
  return op && STANDARD_ONLY.has(op) ? FEATURES[op] : undefined;
}

const FEATURES: Partial<Record<Operation, string>> = {
  c2dSend: 'Cloud-to-device messaging',
  c2dReceive: 'Cloud-to-device messaging',
  methods: 'Direct methods',
  twinRead: 'Device twins',
  twinUpdate: 'Device twins',
  jobs: 'Jobs',
  configurations: 'Automatic device configurations',
};

/** A Basic-tier SKU (B1, B2, B3). */
export function isBasicTier(sku: string): boolean {
  return /^B[123]$/i.test(sku);
}

/** Operations per second for a hub's SKU, or undefined when it is not throttled. */
export function ratePerSecond(sku: string, units: number, op: Operation): number | undefined {
  const tier = TIER[sku.toUpperCase()];
  if (!tier) return undefined;
  return TABLE[op](tier, Math.max(1, units));
}

/** Messages a day per unit (F1: 8,000 for the hub), counted in 4 KB chunks (0.5 KB on F1); undefined: no quota. */
export function dailyQuota(sku: string, units: number): { messages: number; chunkBytes: number } | undefined {
  const s = sku.toUpperCase();
  const perUnit: Record<string, number> = { F1: 8_000, B1: 400_000, S1: 400_000, B2: 6_000_000, S2: 6_000_000, B3: 300_000_000, S3: 300_000_000 };
  const n = perUnit[s];
  if (n === undefined) return undefined;
  return { messages: s === 'F1' ? n : n * Math.max(1, units), chunkBytes: s === 'F1' ? 512 : 4096 };
}

/**
 * How an operation counts against the daily message quota (devguide §18): `message` in 4 KB
 * chunks (0.5 KB on F1), `twin` in 512-byte chunks. Not listed: not metered (identity, jobs and
 * configuration management, C2D receive and settle, connections and keep-alives).
 */
export type MeterKind = 'message' | 'twin';
export const METERED: Readonly<Partial<Record<Operation, MeterKind>>> = {
  d2c: 'message',
  c2dSend: 'message',
  fileUpload: 'message',
  fileNotification: 'message',
  methods: 'message',
  twinRead: 'twin',
  twinUpdate: 'twin',
};

/** The chunk a metered byte count is divided into. */
export function chunkBytesOf(kind: MeterKind, quota: { chunkBytes: number }): number {
  return kind === 'twin' ? 512 : quota.chunkBytes;
}

/** Metered messages a payload counts for: one per started chunk, at least one. */
export function meteredMessages(bytes: number, chunkBytes: number): number {
  return Math.max(1, Math.ceil(bytes / chunkBytes));
}

/**
 * The throttled operation of a service or device REST request, by method and path, or undefined
 * (not throttled: settings, statistics, the Event Hubs endpoint, DPS …).
 */
export function operationOf(method: string, path: readonly string[]): Operation | undefined {
  // a module's paths are its device's: /devices/{d}/modules/{m}/x → /devices/{d}/x
  const segments = path[0] === 'devices' && path[2] === 'modules' && path.length > 4 ? [path[0], path[1], ...path.slice(4)] : path;
  const [a, b, c, d] = segments;
  if (a === 'devices') {
    if (b === 'query') return 'twinRead';
    // telemetry is metered per message where it is ingested (every transport): see D2CIngest
    if (c === 'messages' && d === 'events') return undefined;
    if (c === 'messages' && d === 'devicebound') return method === 'GET' ? 'c2dReceive' : method === 'POST' && segments.length === 4 ? 'c2dSend' : undefined;
    // initiation and completion notice are both metered messages (devguide §18)
    if (c === 'files') return d === 'notifications' ? 'fileNotification' : 'fileUpload';
    if (c === 'commands') return undefined;
    if (c === 'applyConfigurationContent') return 'configurations';
    return 'identity';
  }
  if (a === 'twins') {
    if (c === 'methods' || segments[4] === 'methods') return 'methods';
    if (c === 'streams') return undefined;
    return method === 'GET' ? 'twinRead' : 'twinUpdate';
  }
  if (a === 'jobs') return 'jobs';
  if (a === 'configurations') return 'configurations';
  return undefined;
}
