import type { DeviceIdentity, ModuleIdentity } from '../domain/identity.js';
import type { OutboxEvent } from '../domain/events.js';

export interface HubRow {
  readonly name: string;
  readonly createdAt: Date;
  readonly partitionCount: number;
  readonly retentionDays: number;
  readonly skuName: string;
  readonly skuUnits: number;
}

/** Settings a hub gets at creation. */
export interface HubOptions {
  readonly partitionCount: number;
  readonly retentionDays: number;
}

export interface PolicyRow {
  readonly keyName: string;
  readonly primaryKey: string;
  readonly secondaryKey: string;
  readonly rights: readonly string[];
}

export interface Statistics {
  readonly total: number;
  readonly enabled: number;
  readonly disabled: number;
}

/** A new identity before the store gives it a version. */
export type NewDevice = Omit<DeviceIdentity, 'version'>;
export type NewModule = Omit<ModuleIdentity, 'version'>;

export interface ConnectionReport {
  readonly deviceId: string;
  readonly moduleId: string;
  readonly connected: boolean;
  readonly connectionId: string;
  readonly at: Date;
}

export interface ActivityEntry {
  readonly deviceId: string;
  readonly moduleId: string;
  readonly at: Date;
}

/** '*' matches any version; a number must equal the stored version. */
export type Expected = '*' | number;

/**
 * Persistence of the registry. Every method is one transaction; events passed in are written to
 * the outbox in that same transaction. Domain errors (not found, exists, precondition, quota) are
 * thrown as DomainErrors.
 */
export interface RegistryStore {
  ensureHub(hub: string, policies: readonly PolicyRow[], options: HubOptions): Promise<{ hub: HubRow; created: boolean }>;
  getHub(hub: string): Promise<HubRow | undefined>;
  listPolicies(hub: string): Promise<PolicyRow[]>;
  getPolicy(hub: string, keyName: string): Promise<PolicyRow | undefined>;
  setPolicyKeys(hub: string, keyName: string, keys: { primaryKey: string; secondaryKey: string }): Promise<PolicyRow | undefined>;

  insertDevice(hub: string, device: NewDevice, opts: { maxDevices: number; event: (d: DeviceIdentity) => OutboxEvent }): Promise<DeviceIdentity>;
  updateDevice(hub: string, deviceId: string, expected: Expected, mutate: (current: DeviceIdentity) => NewDevice): Promise<DeviceIdentity>;
  /**
   * Deletes a device (and its modules); `events` gets the device and its identities that were
   * still connected (module id '' for the device, with their connection ids).
   */
  deleteDevice(hub: string, deviceId: string, expected: Expected, events: (d: DeviceIdentity, connected: ReadonlyArray<{ moduleId: string; connectionId: string }>) => OutboxEvent[]): Promise<DeviceIdentity>;
  getDevice(hub: string, deviceId: string): Promise<DeviceIdentity | undefined>;
  /** Devices and modules by id, in one round trip; each answer in the order asked, undefined where absent. */
  getIdentities(refs: readonly IdentityRef[]): Promise<Array<{ device: DeviceIdentity | undefined; module: ModuleIdentity | undefined }>>;
  /** Devices in id order, after `afterDeviceId` ('' for the first page). */
  listDevices(hub: string, top: number, afterDeviceId?: string): Promise<DeviceIdentity[]>;
  statistics(hub: string): Promise<Statistics>;

  insertModule(hub: string, module: NewModule, opts: { maxModules: number; event: (m: ModuleIdentity) => OutboxEvent }): Promise<ModuleIdentity>;
  updateModule(hub: string, deviceId: string, moduleId: string, expected: Expected, mutate: (current: ModuleIdentity) => NewModule): Promise<ModuleIdentity>;
  deleteModule(hub: string, deviceId: string, moduleId: string, expected: Expected, event: (m: ModuleIdentity) => OutboxEvent): Promise<ModuleIdentity>;
  getModule(hub: string, deviceId: string, moduleId: string): Promise<ModuleIdentity | undefined>;

  /** Apply a connection report (see RegistryService.reportConnection); true when it changed the state. */
  reportConnection(hub: string, report: ConnectionReport, event: () => OutboxEvent): Promise<boolean>;
  /** Advance lastActivityTime (never backwards) for many identities of one hub. */
  recordActivity(hub: string, entries: readonly ActivityEntry[]): Promise<void>;
  listModules(hub: string, deviceId: string): Promise<ModuleIdentity[]>;
}

/** A device (`moduleId` '') or one of its modules. */
export interface IdentityRef {
  readonly hub: string;
  readonly deviceId: string;
  readonly moduleId: string;
}
