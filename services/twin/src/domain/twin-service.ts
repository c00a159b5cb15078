import { ArgumentInvalidError, PreconditionFailedError } from '@openiothub/errors';
import type { OutboxEvent } from '@openiothub/postgres';
import type { TwinStore } from '../store/twin-store.js';
import type { ActiveConfiguration } from '../configurations/plan.js';
import { planTwin } from '../configurations/plan.js';
import { twinChangeEvent } from './events.js';
import type { JsonObject } from './limits.js';
import { applyImport, applyReplace, applyReported, applyUpdate, deviceView, etagMatches, sectionsView, twinEtag, type TwinChange, type TwinState } from './twin.js';

/** Identity fields shown at the root of a twin (devguide §9.2, scenario 16). */
export interface IdentityInfo {
  readonly deviceId: string;
  readonly moduleId: string;
  readonly generationId: string;
  readonly deviceEtag: string;
  readonly status: string;
  readonly statusReason: string;
  readonly statusUpdateTime: string;
  readonly connectionState: string;
  readonly lastActivityTime: string;
  readonly cloudToDeviceMessageCount: number;
  readonly authenticationType: string;
  readonly x509Thumbprint: { primaryThumbprint: string | null; secondaryThumbprint: string | null };
  readonly iotEdge: boolean;
}

/** Where identities come from (the registry); throws DeviceNotFound / ModuleNotFound. */
export interface IdentitySource {
  get(hub: string, deviceId: string, moduleId: string): Promise<IdentityInfo>;
}

/** Sends a desired-property patch (with `$version`) to the identity, if it is connected. */
export type DesiredPush = (hub: string, deviceId: string, moduleId: string, patch: JsonObject) => void;

export interface TwinKey {
  readonly hub: string;
  readonly deviceId: string;
  readonly moduleId: string;
}

/** JSON from a request, or 400 ArgumentInvalid naming what it was. */
export function parse(json: string, what: string): unknown {
  try {
    return JSON.parse(json) as unknown;
  } catch (err) {
    throw new ArgumentInvalidError(`The ${what} is not valid JSON: ${(err as Error).message}`);
  }
}

/** Twin use cases for the service REST API and the device transports. */
export class TwinService {
  readonly #store: TwinStore;
  readonly #identities: IdentitySource;
  readonly #push: DesiredPush;
  readonly #now: () => Date;
  #onWrite: (hub: string) => void = () => undefined;

  constructor(opts: { store: TwinStore; identities: IdentitySource; push: DesiredPush; now?: () => Date }) {
    this.#store = opts.store;
    this.#identities = opts.identities;
    this.#push = opts.push;
    this.#now = opts.now ?? (() => new Date());
  }

  /** Called after every service or device write (the configuration reconciler re-checks membership). */
  set onWrite(fn: (hub: string) => void) {
    this.#onWrite = fn;
  }

  /**
   * Brings one device twin in line with the hub's configurations (plan.ts), as one twin write:
   * records membership and owned paths, and writes the desired patch as a service update would
   * (new `$version`, event, push to the device). Resolves whether anything changed.
   */
  async reconcileConfigurations(id: IdentityInfo, hub: string, active: readonly ActiveConfiguration[]): Promise<boolean> {
    const key = { hub, deviceId: id.deviceId, moduleId: '' };
    const at = this.#now().toISOString();
    let change: TwinChange | undefined;
    let changed = false;
    const state = await this.#store.modify({ ...key, generationId: id.generationId }, at, (s) => {
      // the store may run this again on a newer state: only its last run counts
      change = undefined;
      changed = false;
      const plan = planTwin(s, serviceView(id, s), active);
      if (!plan) return undefined;
      changed = true;
      s.configurations = plan.configurations;
      s.configPaths = plan.configPaths;
      if (!plan.desiredPatch) return [];
      change = applyUpdate(s, { properties: { desired: plan.desiredPatch } }, at);
      return [this.#event(key, change, s, at)];
    });
    if (change?.desired && Object.keys(change.desired).length > 0) this.#push(hub, id.deviceId, '', { ...change.desired, $version: state.desiredVersion });
    return changed;
  }

  async getTwin(key: TwinKey): Promise<{ twin: JsonObject; etag: string }> {
    const id = await this.#identities.get(key.hub, key.deviceId, key.moduleId);
    const state = await this.#store.read({ ...key, generationId: id.generationId }, this.#now().toISOString());
    return { twin: serviceView(id, state), etag: twinEtag(state.etagVersion) };
  }

  updateTwin(key: TwinKey, patchJson: string, ifMatch: string | undefined): Promise<{ twin: JsonObject; etag: string }> {
    const patch = parse(patchJson, 'twin patch');
    return this.#write(key, ifMatch, (s, at) => applyUpdate(s, patch, at));
  }

  replaceTwin(key: TwinKey, twinJson: string, ifMatch: string | undefined): Promise<{ twin: JsonObject; etag: string }> {
    const doc = parse(twinJson, 'twin');
    return this.#write(key, ifMatch, (s, at) => applyReplace(s, doc, at));
  }

  /** Bulk import of a device's twin data (tags, desired, reported, optional `$metadata`); If-Match is the line's twinETag. */
  importTwin(key: TwinKey, twinJson: string, ifMatch: string | undefined): Promise<{ twin: JsonObject; etag: string }> {
    const doc = parse(twinJson, 'twin data');
    return this.#write(key, ifMatch, (s, at) => applyImport(s, doc, at));
  }

  async #write(key: TwinKey, ifMatch: string | undefined, apply: (s: TwinState, at: string) => TwinChange): Promise<{ twin: JsonObject; etag: string }> {
    const id = await this.#identities.get(key.hub, key.deviceId, key.moduleId);
    const at = this.#now().toISOString();
    let change: TwinChange | undefined;
    const state = await this.#store.modify({ ...key, generationId: id.generationId }, at, (s) => {
      change = undefined; // the store may run this again on a newer state: only its last run counts
      if (!etagMatches(ifMatch, s.etagVersion)) throw new PreconditionFailedError('The twin was changed since it was read: its etag does not match If-Match.');
      change = apply(s, at);
      return [this.#event(key, change, s, at)];
    });
    if (change?.desired && Object.keys(change.desired).length > 0) {
      this.#push(key.hub, key.deviceId, key.moduleId, { ...change.desired, $version: state.desiredVersion });
    }
    this.#onWrite(key.hub);
    return { twin: serviceView(id, state), etag: twinEtag(state.etagVersion) };
  }

  /** The device's view (MQTT GET); records the model id the device connected with. */
  async getDeviceTwin(ctx: TwinKey & { generationId: string; modelId: string }): Promise<JsonObject> {
    const at = this.#now().toISOString();
    const state = await this.#store.modify(
      ctx,
      at,
      (s) => {
        if (!ctx.modelId || s.modelId === ctx.modelId) return undefined;
        s.modelId = ctx.modelId;
        return [];
      },
      { fresh: true },
    );
    return deviceView(state);
  }

  /** A reported-properties patch from the device; resolves the new reported `$version`. */
  async patchReported(ctx: TwinKey & { generationId: string; modelId: string }, patchJson: string): Promise<number> {
    const patch = parse(patchJson, 'reported properties patch');
    const at = this.#now().toISOString();
    const reportedVersion = await this.#store.modify(
      ctx,
      at,
      (s) => {
        const change = applyReported(s, patch, at);
        if (ctx.modelId) s.modelId = ctx.modelId;
        return [this.#event(ctx, change, s, at)];
      },
      { view: (s) => s.reportedVersion },
    );
    this.#onWrite(ctx.hub);
    return reportedVersion;
  }

  #event(key: TwinKey, change: TwinChange, state: TwinState, at: string): OutboxEvent {
    return twinChangeEvent({ hub: key.hub, deviceId: key.deviceId, moduleId: key.moduleId, change, state, at });
  }
}

/** The full twin as the service REST API returns it. */
export function serviceView(id: IdentityInfo, state: TwinState): JsonObject {
  return {
    deviceId: id.deviceId,
    ...(id.moduleId ? { moduleId: id.moduleId } : {}),
    etag: twinEtag(state.etagVersion),
    deviceEtag: id.deviceEtag,
    status: id.status,
    ...(id.statusReason ? { statusReason: id.statusReason } : {}),
    statusUpdateTime: id.statusUpdateTime,
    connectionState: id.connectionState,
    lastActivityTime: id.lastActivityTime,
    cloudToDeviceMessageCount: id.cloudToDeviceMessageCount,
    authenticationType: id.authenticationType,
    x509Thumbprint: id.x509Thumbprint,
    modelId: state.modelId,
    version: state.version,
    ...sectionsView(state),
    ...(Object.keys(state.configurations).length > 0 ? { configurations: state.configurations } : {}),
    ...(id.moduleId ? {} : { capabilities: { iotEdge: id.iotEdge } }),
  };
}
