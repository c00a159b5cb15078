import { ArgumentInvalidError } from '@openiothub/errors';
import { assertSectionSize, isObject, validateSection, type JsonObject } from './limits.js';
import { mergePatch, metadataFor, replacementPatch, type Metadata } from './merge.js';

/** Everything stored for one twin. */
export interface TwinState {
  tags: JsonObject;
  desired: JsonObject;
  desiredMeta: Metadata;
  desiredVersion: number;
  reported: JsonObject;
  reportedMeta: Metadata;
  reportedVersion: number;
  /** Increments on every change (tags, desired, reported). */
  version: number;
  /** Increments on tags/desired writes only: reported updates must not break the service's If-Match (scenario 14). */
  etagVersion: number;
  modelId: string;
  /** Automatic device configurations targeting this twin: `{cfgId: {status: 'Applied' | 'Targeted'}}` (shown as `configurations`). */
  configurations: Record<string, { status: string }>;
  /** Which configuration wrote each desired path it owns (`properties.desired.a.b` → cfgId), to remove it when that stops. */
  configPaths: Record<string, string>;
}

/** What a write changed, for the desired push and the twin-change event. */
export interface TwinChange {
  readonly tags?: JsonObject | null;
  /** Desired patch to push to the device (nulls kept: they tell it what was deleted). */
  readonly desired?: JsonObject;
  readonly reported?: JsonObject;
  readonly op: 'updateTwin' | 'replaceTwin';
}

/** A new twin: empty sections at `$version` 1 (what `az iot hub device-twin show` shows for a new device). */
export function newTwin(at: string): TwinState {
  return {
    tags: {},
    desired: {},
    desiredMeta: { $lastUpdated: at },
    desiredVersion: 1,
    reported: {},
    reportedMeta: { $lastUpdated: at },
    reportedVersion: 1,
    version: 1,
    etagVersion: 1,
    modelId: '',
    configurations: {},
    configPaths: {},
  };
}

/** IoT Hub's twin etag: base64 of the 8-byte big-endian version (`AAAAAAAAAAE=` for 1). */
export function twinEtag(etagVersion: number): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(etagVersion));
  return b.toString('base64');
}

/** True when an If-Match value (quoted or not, or `*`) allows a write at this etag. */
export function etagMatches(ifMatch: string | undefined, etagVersion: number): boolean {
  if (ifMatch === undefined) return true;
  const v = ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return v === '*' || v === '' || v === twinEtag(etagVersion);
}

/** Service PATCH: merge `tags` and `properties.desired`; `desired: null` / `tags: null` clear the section. */
export function applyUpdate(state: TwinState, patch: unknown, at: string): TwinChange {
  if (!isObject(patch)) throw new ArgumentInvalidError('A twin patch must be a JSON object.');
  const props = patch['properties'];
  if (props !== undefined && props !== null && !isObject(props)) throw new ArgumentInvalidError('properties must be an object.');
  if (isObject(props) && props['reported'] !== undefined) throw new ArgumentInvalidError('Reported properties are written by the device, not the service.');
  const tags = patch['tags'];
  const desired = isObject(props) ? props['desired'] : undefined;
  if (tags === undefined && desired === undefined) throw new ArgumentInvalidError('A twin patch must contain tags or properties.desired.');
  let change: { tags?: JsonObject | null; desired?: JsonObject } = {};
  if (tags !== undefined) {
    if (tags === null) state.tags = {};
    else {
      validateSection(tags, 'tags', { allowNull: true });
      const scratch: Metadata = { $lastUpdated: at };
      mergePatch(state.tags, scratch, tags, at);
      assertSectionSize(state.tags, 'tags');
    }
    change = { ...change, tags: tags as JsonObject | null };
  }
  if (desired !== undefined) {
    const next = state.desiredVersion + 1;
    // desired: null deletes every desired property; the device is told each top-level key is null
    const desiredPatch: JsonObject = desired === null ? Object.fromEntries(Object.keys(state.desired).map((k) => [k, null])) : (desired as JsonObject);
    validateSection(desiredPatch, 'desired', { allowNull: true });
    mergePatch(state.desired, state.desiredMeta, desiredPatch, at, next);
    assertSectionSize(state.desired, 'desired properties');
    state.desiredVersion = next;
    change = { ...change, desired: withoutReadOnly(desiredPatch) };
  }
  state.version += 1;
  state.etagVersion += 1;
  return { ...change, op: 'updateTwin' };
}

/** Service PUT: replace tags and desired properties; reported properties are untouched. */
export function applyReplace(state: TwinState, doc: unknown, at: string): TwinChange {
  if (!isObject(doc)) throw new ArgumentInvalidError('A twin must be a JSON object.');
  const tags = doc['tags'] ?? {};
  const props = doc['properties'];
  const desired = (isObject(props) ? props['desired'] : undefined) ?? {};
  validateSection(tags, 'tags', { allowNull: false });
  const desiredValues = withoutReadOnly(desired as JsonObject);
  validateSection(desiredValues, 'desired', { allowNull: false });
  assertSectionSize(tags, 'tags');
  assertSectionSize(desiredValues, 'desired properties');
  const pushed = replacementPatch(state.desired, desiredValues);
  const next = state.desiredVersion + 1;
  state.tags = tags;
  state.desired = JSON.parse(JSON.stringify(desiredValues)) as JsonObject;
  state.desiredMeta = metadataFor(state.desired, at, next);
  state.desiredVersion = next;
  state.version += 1;
  state.etagVersion += 1;
  return { tags, desired: pushed, op: 'replaceTwin' };
}

/**
 * Bulk import (seeds-protocols-ops §10.3): the twin data of a `devices.txt` line replaces tags,
 * desired and reported properties, each only if present. Imported `$metadata` overwrites the
 * twin's; without it every imported value is stamped now.
 */
export function applyImport(state: TwinState, doc: unknown, at: string): TwinChange {
  if (!isObject(doc)) throw new ArgumentInvalidError('Twin data must be a JSON object.');
  const props = isObject(doc['properties']) ? doc['properties'] : {};
  let change: TwinChange = { op: 'replaceTwin' };
  if (doc['tags'] !== undefined && doc['tags'] !== null) {
    validateSection(doc['tags'], 'tags', { allowNull: false });
    assertSectionSize(doc['tags'] as JsonObject, 'tags');
    state.tags = structuredClone(doc['tags'] as JsonObject);
    change = { ...change, tags: state.tags };
  }
  const section = (name: 'desired' | 'reported') => {
    const raw = props[name];
    if (!isObject(raw)) return undefined;
    const values = withoutReadOnly(raw as JsonObject);
    validateSection(values, name, { allowNull: false });
    assertSectionSize(values, `${name} properties`);
    const meta = isObject(raw['$metadata']) ? (structuredClone(raw['$metadata']) as unknown as Metadata) : undefined;
    return { values: structuredClone(values), meta };
  };
  const desired = section('desired');
  if (desired) {
    const pushed = replacementPatch(state.desired, desired.values);
    state.desiredVersion += 1;
    state.desired = desired.values;
    state.desiredMeta = desired.meta ?? metadataFor(desired.values, at, state.desiredVersion);
    change = { ...change, desired: pushed };
  }
  const reported = section('reported');
  if (reported) {
    state.reportedVersion += 1;
    state.reported = reported.values;
    state.reportedMeta = reported.meta ?? metadataFor(reported.values, at, undefined);
    change = { ...change, reported: reported.values };
  }
  // an IoT Plug and Play model id (DPS passes the one a device registered with)
  if (typeof doc['modelId'] === 'string' && doc['modelId'] !== '') state.modelId = doc['modelId'];
  state.version += 1;
  if (change.tags || change.desired) state.etagVersion += 1;
  return change;
}

/** Device PATCH of reported properties. The twin etag stays: only tags/desired writes change it. */
export function applyReported(state: TwinState, patch: unknown, at: string): TwinChange {
  validateSection(patch, 'reported', { allowNull: true });
  const values = withoutReadOnly(patch);
  mergePatch(state.reported, state.reportedMeta, values, at);
  assertSectionSize(state.reported, 'reported properties');
  state.reportedVersion += 1;
  state.version += 1;
  return { reported: values, op: 'updateTwin' };
}

function withoutReadOnly(o: JsonObject): JsonObject {
  const { $version: _v, $metadata: _m, ...rest } = o;
  return rest;
}

/** The device's view (MQTT twin GET): sections with `$version`, no metadata. */
export function deviceView(state: TwinState): JsonObject {
  return {
    desired: { ...state.desired, $version: state.desiredVersion },
    reported: { ...state.reported, $version: state.reportedVersion },
  };
}

/** The service's view of the sections, with metadata. */
export function sectionsView(state: TwinState): JsonObject {
  return {
    tags: state.tags,
    properties: {
      desired: { ...state.desired, $metadata: state.desiredMeta as unknown as JsonObject, $version: state.desiredVersion },
      reported: { ...state.reported, $metadata: state.reportedMeta as unknown as JsonObject, $version: state.reportedVersion },
    },
  };
}
