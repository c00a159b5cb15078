import { isObject, type Json, type JsonObject } from './limits.js';

/** Metadata of one node: when it last changed (and, in desired, at which `$version`). */
export type Metadata = { $lastUpdated: string; $lastUpdatedVersion?: number; [key: string]: Metadata | string | number | undefined };

const clone = <T extends Json>(v: T): T => (v === null || typeof v !== 'object' ? v : (JSON.parse(JSON.stringify(v)) as T));

function stamp(at: string, version: number | undefined): Metadata {
  return version === undefined ? { $lastUpdated: at } : { $lastUpdated: at, $lastUpdatedVersion: version };
}

/** Metadata for a freshly written value: every object node and every leaf gets `$lastUpdated`. */
export function metadataFor(value: Json, at: string, version: number | undefined): Metadata {
  const meta = stamp(at, version);
  if (isObject(value)) for (const [k, v] of Object.entries(value)) meta[k] = metadataFor(v, at, version);
  return meta;
}

/**
 * JSON merge-patch (RFC 7386) of `patch` into `target`, in place, keeping metadata beside it:
 * `null` deletes a member, objects merge recursively, anything else replaces. Every node the patch
 * touches — and every ancestor — gets `$lastUpdated` (devguide §11.6: kept at every level so removals
 * show). Read-only `$version` / `$metadata` in the patch are ignored.
 */
export function mergePatch(target: JsonObject, meta: Metadata, patch: JsonObject, at: string, version?: number): void {
  Object.assign(meta, stamp(at, version));
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$version' || k === '$metadata') continue;
    if (v === null) {
      delete target[k];
      delete meta[k];
    } else if (isObject(v) && isObject(target[k])) {
      const childMeta = isMeta(meta[k]) ? (meta[k] as Metadata) : (meta[k] = stamp(at, version));
      mergePatch(target[k] as JsonObject, childMeta, v, at, version);
    } else {
      // a new value, or an object replacing a scalar: nulls inside it are not stored
      target[k] = isObject(v) ? stripNulls(v) : clone(v);
      meta[k] = metadataFor(target[k] as Json, at, version);
    }
  }
}

function isMeta(v: unknown): boolean {
  return typeof v === 'object' && v !== null;
}

function stripNulls(o: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === null) continue;
    out[k] = isObject(v) ? stripNulls(v) : clone(v);
  }
  return out;
}

/**
 * The patch that turns `before` into `after` at the top level: changed or new members as in
 * `after`, removed members as `null` — what a device gets when desired properties are replaced.
 */
export function replacementPatch(before: JsonObject, after: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const k of Object.keys(before)) if (!(k in after)) patch[k] = null;
  for (const [k, v] of Object.entries(after)) if (JSON.stringify(before[k]) !== JSON.stringify(v)) patch[k] = clone(v);
  return patch;
}
