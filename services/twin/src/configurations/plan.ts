import { compileCondition, parseExpression, readFromTwin } from '@openiothub/query';
import type { JsonObject } from '../domain/limits.js';
import type { TwinState } from '../domain/twin.js';
import { desiredSegments, nest, type StoredConfiguration } from './configuration.js';

/** A configuration ready to evaluate against twins. */
export interface ActiveConfiguration {
  readonly config: StoredConfiguration;
  readonly matches: (twin: JsonObject) => boolean;
}

/** Root properties of a twin document, for case-insensitive matching as in SQL (collections.ts). */
const ROOTS = [
  'deviceId', 'moduleId', 'etag', 'deviceEtag', 'status', 'statusReason', 'statusUpdateTime', 'connectionState', 'lastActivityTime',
  'cloudToDeviceMessageCount', 'authenticationType', 'x509Thumbprint', 'modelId', 'version', 'tags', 'properties', 'capabilities', 'configurations',
];
const ROOT_BY_LOWER = new Map(ROOTS.map((r) => [r.toLowerCase(), r]));

/** Compiles configurations for in-memory matching, highest priority first (ties: most recently created first). */
export function activate(configs: readonly StoredConfiguration[]): ActiveConfiguration[] {
  return [...configs]
    .sort((a, b) => b.priority - a.priority || b.createdTime.getTime() - a.createdTime.getTime() || (a.id < b.id ? 1 : -1))
    .map((config) => {
      if (config.targetCondition === '*') return { config, matches: () => true };
      const compiled = compileCondition(readFromTwin(parseExpression(config.targetCondition, { dialect: 'twin' }), (root) => ROOT_BY_LOWER.get(root.toLowerCase()) ?? root));
      return { config, matches: (twin: JsonObject) => compiled.matches({ systemProperties: {}, appProperties: {}, twin }) };
    });
}

/** What reconciling one twin changes. */
export interface ReconcilePlan {
  /** Desired patch to apply (merge-patch; nulls delete), or undefined when the desired properties are already right. */
  readonly desiredPatch?: JsonObject;
  readonly configurations: Record<string, { status: string }>;
  readonly configPaths: Record<string, string>;
}

/**
 * The configurations' verdict for one twin (seeds-protocols-ops §9.2). Each content path belongs
 * to the highest-priority matching configuration that sets it; content is laid down lowest
 * priority first so the winner's value stands; a path a configuration owned before and no
 * configuration owns now is deleted (A-21: removal means the property goes). A matching
 * configuration that owns at least one path is `Applied` (partial application counts), one that
 * owns none is `Targeted`. Undefined when nothing would change.
 */
export function planTwin(state: TwinState, twinDoc: JsonObject, active: readonly ActiveConfiguration[]): ReconcilePlan | undefined {
  const matching = active.filter((a) => a.matches(twinDoc));
  const owner = new Map<string, ActiveConfiguration>();
  for (const a of matching) for (const path of Object.keys(a.config.deviceContent)) if (!owner.has(path)) owner.set(path, a);

  const overlay: JsonObject = {};
  for (const a of [...matching].reverse()) {
    for (const [path, value] of Object.entries(a.config.deviceContent)) {
      if (owner.get(path) === a) overlayMerge(overlay, nest(desiredSegments(path), value));
    }
  }
  const removals = Object.keys(state.configPaths).filter((path) => !owner.has(path));
  const patch: JsonObject = structuredClone(overlay);
  for (const path of removals) {
    const segs = desiredSegments(path);
    if (valueAt(state.desired, segs) !== undefined && valueAt(overlay, segs) === undefined) overlayMerge(patch, nest(segs, null));
  }
  const configurations: Record<string, { status: string }> = {};
  for (const a of matching) configurations[a.config.id] = { status: [...owner.values()].includes(a) ? 'Applied' : 'Targeted' };
  const configPaths = Object.fromEntries([...owner.entries()].map(([path, a]) => [path, a.config.id]));

  const desiredChanges = !contained(patch, state.desired);
  if (!desiredChanges && sameJson(configurations, state.configurations) && sameJson(configPaths, state.configPaths)) return undefined;
  return { ...(desiredChanges ? { desiredPatch: patch } : {}), configurations, configPaths };
}

/** Merge-patch that keeps `null` members: the result is itself a patch (nulls delete when applied). */
function overlayMerge(target: JsonObject, patch: JsonObject): void {
  for (const [k, v] of Object.entries(patch)) {
    const cur = target[k];
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && cur !== null && typeof cur === 'object' && !Array.isArray(cur)) overlayMerge(cur, v);
    else target[k] = structuredClone(v);
  }
}

function valueAt(obj: unknown, segs: readonly string[]): unknown {
  let v = obj;
  for (const s of segs) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}

/** True when merge-patching `patch` into `target` would change nothing. */
function contained(patch: unknown, target: unknown): boolean {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return sameJson(patch, target);
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return false;
  return Object.entries(patch).every(([k, v]) => (v === null ? !(k in target) : contained(v, (target as Record<string, unknown>)[k])));
}

/** Equal as JSON values; object key order does not count (jsonb stores keys in its own order). */
export const sameJson = (a: unknown, b: unknown) => canonical(a) === canonical(b);

function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'undefined';
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}
