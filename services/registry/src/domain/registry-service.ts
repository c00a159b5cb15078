import { defaultPolicies, generateSymmetricKey } from '@openiothub/auth';
import { ArgumentInvalidError, DeviceNotFoundError, DomainError } from '@openiothub/errors';
import type { ActivityEntry, ConnectionReport, Expected, HubOptions, HubRow, IdentityRef, PolicyRow, RegistryStore, Statistics } from '../store/registry-store.js';
import { connectionEvent, lifecycleEvent } from './events.js';
import {
  MAX_LIST,
  MAX_MODULES_PER_DEVICE,
  assertIdentityId,
  etagOf,
  newGenerationId,
  normalizeAuthentication,
  normalizeStatus,
  normalizeStatusReason,
  parseIfMatch,
  type DeviceIdentity,
  type DeviceInput,
  type ModuleIdentity,
  type ModuleInput,
} from './identity.js';

const moduleNotFound = (deviceId: string, moduleId: string) => new DomainError('ModuleNotFound', `Module ${moduleId} on device ${deviceId} not found.`);

/** IoT Hub: bulk registry operations take 1 to 100 devices. */
export const MAX_BULK = 100;
/** IoT Hub: at most 1,000,000 devices per hub. */
export const DEFAULT_MAX_DEVICES = 1_000_000;

export const BULK_MODES = ['create', 'update', 'updateifmatchetag', 'createorupdate', 'createorupdateifmatchetag', 'delete', 'deleteifmatchetag'] as const;

/** One operation of a bulk request. */
export interface BulkOperation {
  readonly device: DeviceInput;
  readonly importMode: string;
  readonly etag: string;
}

/** A per-device failure of a bulk request. */
export interface BulkError {
  readonly deviceId: string;
  readonly errorCode: string;
  readonly errorStatus: string;
}

/** Credentials the gateway needs to authenticate a device or module. */
export interface Credentials {
  readonly status: 'enabled' | 'disabled';
  readonly generationId: string;
  readonly authentication: DeviceIdentity['authentication'];
}

/** Notified after an identity's credentials or status changed (the gateway drops caches, kicks disabled devices). */
export type IdentityChanged = (hub: string, deviceId: string) => void;

/** Registry use cases: validation and invariants on top of a {@link RegistryStore}. */
export class RegistryService {
  readonly #store: RegistryStore;
  readonly #maxDevices: number;
  readonly #identityChanged: IdentityChanged;
  readonly #now: () => Date;

  constructor(opts: { store: RegistryStore; maxDevices?: number; identityChanged?: IdentityChanged; now?: () => Date }) {
    this.#store = opts.store;
    this.#maxDevices = opts.maxDevices ?? DEFAULT_MAX_DEVICES;
    this.#identityChanged = opts.identityChanged ?? (() => {});
    this.#now = opts.now ?? (() => new Date());
  }

  // ---- hubs and policies ----

  /** Create the hub (with its default policies) if it does not exist; its endpoint settings apply only then. */
  ensureHub(hub: string, options: Partial<HubOptions> = {}): Promise<{ hub: HubRow; created: boolean }> {
    if (!/^[a-z0-9][a-z0-9-]{1,62}$/i.test(hub)) {
      throw new ArgumentInvalidError('A hub name is 2-63 letters, digits and hyphens.');
    }
    const partitionCount = options.partitionCount ?? 4;
    const retentionDays = options.retentionDays ?? 1;
    if (!Number.isInteger(partitionCount) || partitionCount < 2 || partitionCount > 128) throw new ArgumentInvalidError('A hub has 2 to 128 partitions.');
    if (!Number.isInteger(retentionDays) || retentionDays < 1 || retentionDays > 7) throw new ArgumentInvalidError('Retention is 1 to 7 days.');
    const policies: PolicyRow[] = defaultPolicies.map((p) => ({
      keyName: p.name,
      primaryKey: generateSymmetricKey(),
      secondaryKey: generateSymmetricKey(),
      rights: [...p.rights],
    }));
    return this.#store.ensureHub(hub, policies, { partitionCount, retentionDays });
  }

  async getHub(hub: string): Promise<HubRow> {
    const found = await this.#store.getHub(hub);
    if (!found) throw new DomainError('IotHubNotFound', `IoT hub ${hub} not found.`);
    return found;
  }

  async listPolicies(hub: string): Promise<PolicyRow[]> {
    await this.getHub(hub);
    return this.#store.listPolicies(hub);
  }

  async getPolicy(hub: string, keyName: string): Promise<PolicyRow> {
    const policy = await this.#store.getPolicy(hub, keyName);
    if (policy) return policy;
    await this.getHub(hub); // IotHubNotFound beats NotFound
    throw new DomainError('NotFound', `Shared access policy ${keyName} not found.`);
  }

  async regeneratePolicyKey(hub: string, keyName: string, which: string): Promise<PolicyRow> {
    if (which !== 'primary' && which !== 'secondary') throw new ArgumentInvalidError('which must be "primary" or "secondary".');
    const current = await this.getPolicy(hub, keyName);
    const keys = { primaryKey: current.primaryKey, secondaryKey: current.secondaryKey };
    keys[which === 'primary' ? 'primaryKey' : 'secondaryKey'] = generateSymmetricKey();
    const updated = await this.#store.setPolicyKeys(hub, keyName, keys);
    if (!updated) throw new DomainError('NotFound', `Shared access policy ${keyName} not found.`);
    return updated;
  }

  // ---- devices ----

  /** PUT semantics of IoT Hub: no If-Match creates (409 if it exists); If-Match updates (404 if missing, 412 on a stale etag). */
  async putDevice(hub: string, input: DeviceInput, ifMatch: string | undefined): Promise<{ device: DeviceIdentity; created: boolean }> {
    assertIdentityId(input.deviceId, 'deviceId');
    const expected = parseIfMatch(ifMatch);
    if (expected === undefined) {
      const created = await this.#createDevice(hub, input);
      // a gateway may hold "not registered" for this id from a refused connect: it must hear of the new device at once
      this.#identityChanged(hub, created.deviceId);
      return { device: created, created: true };
    }
    const device = await this.#store.updateDevice(hub, input.deviceId, expected, (cur) => {
      const status = normalizeStatus(input.status, cur.status);
      return {
        ...cur,
        status,
        statusReason: normalizeStatusReason(input.statusReason, cur.statusReason),
        statusUpdatedTime: status === cur.status ? cur.statusUpdatedTime : this.#now(),
        authentication: normalizeAuthentication(input.authentication, cur.authentication),
        iotEdge: input.iotEdge ?? cur.iotEdge,
        deviceScope: input.deviceScope ?? cur.deviceScope,
        parentScopes: input.parentScopes ?? cur.parentScopes,
      };
    });
    this.#identityChanged(hub, device.deviceId);
    return { device, created: false };
  }

  #createDevice(hub: string, input: DeviceInput): Promise<DeviceIdentity> {
    const now = this.#now();
    return this.#store.insertDevice(
      hub,
      {
        deviceId: input.deviceId,
        generationId: newGenerationId(now.getTime()),
        status: normalizeStatus(input.status, 'enabled'),
        statusReason: normalizeStatusReason(input.statusReason, ''),
        statusUpdatedTime: now,
        connectionState: 'Disconnected',
        connectionStateUpdatedTime: null,
        lastActivityTime: null,
        cloudToDeviceMessageCount: 0,
        authentication: normalizeAuthentication(input.authentication),
        iotEdge: input.iotEdge ?? false,
        deviceScope: input.deviceScope ?? '',
        parentScopes: input.parentScopes ?? [],
      },
      {
        maxDevices: this.#maxDevices,
        event: (d) => lifecycleEvent({ hub, deviceId: d.deviceId, op: 'create', etag: etagOf(d.version), at: now }),
      },
    );
  }

  async getDevice(hub: string, deviceId: string): Promise<DeviceIdentity> {
    const d = await this.#store.getDevice(hub, deviceId);
    if (!d) throw new DeviceNotFoundError(deviceId);
    return d;
  }

  /** Devices (and modules) by id in one round trip: each the identity pair, or DeviceNotFound / ModuleNotFound. */
  async getIdentities(refs: readonly IdentityRef[]): Promise<Array<{ device: DeviceIdentity; module: ModuleIdentity | undefined } | DomainError>> {
    return (await this.#store.getIdentities(refs)).map(({ device, module }, i) => {
      const { deviceId, moduleId } = refs[i]!;
      if (!device) return new DeviceNotFoundError(deviceId);
      if (moduleId && !module) return moduleNotFound(deviceId, moduleId);
      return { device, module };
    });
  }

  async deleteDevice(hub: string, deviceId: string, ifMatch: string | undefined): Promise<void> {
    const expected: Expected = parseIfMatch(ifMatch) ?? '*';
    const at = this.#now();
    // a connection still recorded ends with the identity: its disconnect report would find no device
    await this.#store.deleteDevice(hub, deviceId, expected, (d, connected) => [
      ...connected.map((c) => connectionEvent({ hub, deviceId: d.deviceId, moduleId: c.moduleId || undefined, connected: false, connectionId: c.connectionId, at })),
      lifecycleEvent({ hub, deviceId: d.deviceId, op: 'delete', etag: etagOf(d.version), at }),
    ]);
    this.#identityChanged(hub, deviceId);
  }

  listDevices(hub: string, top: number | undefined, afterDeviceId = ''): Promise<DeviceIdentity[]> {
    const n = top === undefined || top === 0 ? MAX_LIST : top;
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIST) throw new ArgumentInvalidError(`top must be between 1 and ${MAX_LIST}.`);
    return this.#store.listDevices(hub, n, afterDeviceId);
  }

  statistics(hub: string): Promise<Statistics> {
    return this.#store.statistics(hub);
  }

  /** Bulk create/update/delete of 1–100 devices; each succeeds or fails on its own, failures are reported per device. */
  async bulk(hub: string, ops: readonly BulkOperation[]): Promise<{ isSuccessful: boolean; errors: BulkError[] }> {
    if (ops.length < 1 || ops.length > MAX_BULK) throw new ArgumentInvalidError(`A bulk operation takes 1 to ${MAX_BULK} devices, not ${ops.length}.`);
    const modes = ops.map((op) => op.importMode.toLowerCase());
    const bad = modes.find((m) => !(BULK_MODES as readonly string[]).includes(m));
    if (bad !== undefined) throw new ArgumentInvalidError(`importMode "${bad}" is not one of ${BULK_MODES.join(', ')}.`);
    const ids = ops.map((op) => op.device.deviceId);
    if (new Set(ids).size !== ids.length) throw new ArgumentInvalidError('A bulk operation names the same device twice.');
    for (const id of ids) assertIdentityId(id, 'deviceId');
    const errors: BulkError[] = [];
    for (const [i, op] of ops.entries()) {
      const mode = modes[i];
      try {
        if (mode === 'create') await this.putDevice(hub, op.device, undefined);
        else if (mode === 'update') await this.putDevice(hub, op.device, '*');
        else if (mode === 'updateifmatchetag') await this.putDevice(hub, op.device, op.etag || '"missing"');
        else if (mode === 'createorupdate' || mode === 'createorupdateifmatchetag') await this.#createOrUpdate(hub, op, mode === 'createorupdate' ? '*' : op.etag || '"missing"');
        else if (mode === 'delete') await this.deleteDevice(hub, op.device.deviceId, '*');
        else await this.deleteDevice(hub, op.device.deviceId, op.etag || '"missing"');
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        errors.push({ deviceId: op.device.deviceId, errorCode: err.code, errorStatus: err.message });
      }
    }
    return { isSuccessful: errors.length === 0, errors };
  }

  /** Import modes of bulk import: update the device if it exists (with this If-Match), else create it. */
  async #createOrUpdate(hub: string, op: BulkOperation, ifMatch: string): Promise<void> {
    try {
      await this.putDevice(hub, op.device, ifMatch);
    } catch (err) {
      if (!(err instanceof DomainError) || err.code !== 'DeviceNotFound') throw err;
      await this.putDevice(hub, op.device, undefined);
    }
  }

  // ---- modules ----

  async putModule(hub: string, input: ModuleInput, ifMatch: string | undefined): Promise<{ module: ModuleIdentity; created: boolean }> {
    assertIdentityId(input.deviceId, 'deviceId');
    assertIdentityId(input.moduleId, 'moduleId');
    const expected = parseIfMatch(ifMatch);
    if (expected === undefined) {
      const at = this.#now();
      const module = await this.#store.insertModule(
        hub,
        {
          deviceId: input.deviceId,
          moduleId: input.moduleId,
          generationId: newGenerationId(at.getTime()),
          connectionState: 'Disconnected',
          connectionStateUpdatedTime: null,
          lastActivityTime: null,
          cloudToDeviceMessageCount: 0,
          authentication: normalizeAuthentication(input.authentication),
          managedBy: input.managedBy ?? '',
        },
        {
          maxModules: MAX_MODULES_PER_DEVICE,
          event: (m) =>
            lifecycleEvent({ hub, deviceId: m.deviceId, moduleId: m.moduleId, op: 'create', etag: etagOf(m.version), at }),
        },
      );
      return { module, created: true };
    }
    const module = await this.#store.updateModule(hub, input.deviceId, input.moduleId, expected, (cur) => ({
      ...cur,
      authentication: normalizeAuthentication(input.authentication, cur.authentication),
      managedBy: input.managedBy ?? cur.managedBy,
    }));
    this.#identityChanged(hub, input.deviceId);
    return { module, created: false };
  }

  async getModule(hub: string, deviceId: string, moduleId: string): Promise<ModuleIdentity> {
    const m = await this.#store.getModule(hub, deviceId, moduleId);
    if (!m) throw moduleNotFound(deviceId, moduleId);
    return m;
  }

  async deleteModule(hub: string, deviceId: string, moduleId: string, ifMatch: string | undefined): Promise<void> {
    const at = this.#now();
    await this.#store.deleteModule(hub, deviceId, moduleId, parseIfMatch(ifMatch) ?? '*', (m) =>
      lifecycleEvent({ hub, deviceId: m.deviceId, moduleId: m.moduleId, op: 'delete', etag: etagOf(m.version), at }),
    );
    this.#identityChanged(hub, deviceId);
  }

  async listModules(hub: string, deviceId: string): Promise<ModuleIdentity[]> {
    await this.getDevice(hub, deviceId); // 404 for a missing device rather than an empty list
    return this.#store.listModules(hub, deviceId);
  }

  // ---- gateway lookup ----

  /** Credentials of a device, or of a module (which takes its device's status). Undefined when either is missing. */
  async lookupCredentials(hub: string, deviceId: string, moduleId: string): Promise<Credentials | undefined> {
    const device = await this.#store.getDevice(hub, deviceId);
    if (!device) return undefined;
    if (!moduleId) return { status: device.status, generationId: device.generationId, authentication: device.authentication };
    const module = await this.#store.getModule(hub, deviceId, moduleId);
    if (!module) return undefined;
    return { status: device.status, generationId: module.generationId, authentication: module.authentication };
  }

  // ---- connection state (reported by gateways) ----

  /**
   * Record that a device or module connected or disconnected over MQTT/AMQP (HTTPS never changes
   * connectionState, devguide checklist 166). Emits deviceConnected/deviceDisconnected when applied.
   */
  reportConnection(hub: string, report: ConnectionReport): Promise<boolean> {
    if (!report.connectionId) throw new ArgumentInvalidError('connectionId is required.');
    return this.#store.reportConnection(hub, report, () =>
      connectionEvent({
        hub,
        deviceId: report.deviceId,
        moduleId: report.moduleId || undefined,
        connected: report.connected,
        connectionId: report.connectionId,
        at: report.at,
      }),
    );
  }

  /** Batched lastActivityTime updates; at most 1000 entries per call. */
  recordActivity(hub: string, entries: readonly ActivityEntry[]): Promise<void> {
    if (entries.length > 1000) throw new ArgumentInvalidError('At most 1000 activity entries per call.');
    return this.#store.recordActivity(hub, entries);
  }
}
