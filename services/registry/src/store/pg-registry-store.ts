import { DomainError, DeviceNotFoundError, PreconditionFailedError } from '@openiothub/errors';
import { isForeignKeyViolation, isUniqueViolation, withTransaction, writeOutbox, type Pool, type PoolClient } from '@openiothub/postgres';
import type { DeviceIdentity, ModuleIdentity } from '../domain/identity.js';
import type { OutboxEvent } from '../domain/events.js';
import type { ActivityEntry, ConnectionReport, Expected, HubOptions, HubRow, IdentityRef, NewDevice, NewModule, PolicyRow, RegistryStore, Statistics } from './registry-store.js';

const DEVICE_COLUMNS = `device_id, generation_id, version, status, status_reason, status_updated_time, auth_type,
  primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, device_scope, parent_scopes,
  connection_state, connection_state_updated_time, last_activity_time, c2d_message_count`;
const MODULE_COLUMNS = `device_id, module_id, generation_id, version, auth_type, primary_key, secondary_key,
  primary_thumbprint, secondary_thumbprint, managed_by, connection_state, connection_state_updated_time,
  last_activity_time, c2d_message_count`;

type Row = Record<string, unknown>;

function auth(r: Row) {
  return {
    type: r['auth_type'] as DeviceIdentity['authentication']['type'],
    primaryKey: r['primary_key'] as string,
    secondaryKey: r['secondary_key'] as string,
    primaryThumbprint: r['primary_thumbprint'] as string,
    secondaryThumbprint: r['secondary_thumbprint'] as string,
  };
}

function toDevice(r: Row): DeviceIdentity {
  return {
    deviceId: r['device_id'] as string,
    generationId: r['generation_id'] as string,
    version: Number(r['version']),
    status: r['status'] as DeviceIdentity['status'],
    statusReason: r['status_reason'] as string,
    statusUpdatedTime: r['status_updated_time'] as Date,
    connectionState: r['connection_state'] as DeviceIdentity['connectionState'],
    connectionStateUpdatedTime: (r['connection_state_updated_time'] as Date | null) ?? null,
    lastActivityTime: (r['last_activity_time'] as Date | null) ?? null,
    cloudToDeviceMessageCount: Number(r['c2d_message_count']),
    authentication: auth(r),
    iotEdge: r['iot_edge'] as boolean,
    deviceScope: r['device_scope'] as string,
    parentScopes: r['parent_scopes'] as string[],
  };
}

function toModule(r: Row): ModuleIdentity {
  return {
    deviceId: r['device_id'] as string,
    moduleId: r['module_id'] as string,
    generationId: r['generation_id'] as string,
    version: Number(r['version']),
    connectionState: r['connection_state'] as ModuleIdentity['connectionState'],
    connectionStateUpdatedTime: (r['connection_state_updated_time'] as Date | null) ?? null,
    lastActivityTime: (r['last_activity_time'] as Date | null) ?? null,
    cloudToDeviceMessageCount: Number(r['c2d_message_count']),
    authentication: auth(r),
    managedBy: r['managed_by'] as string,
  };
}

function toPolicy(r: Row): PolicyRow {
  return {
    keyName: r['key_name'] as string,
    primaryKey: r['primary_key'] as string,
    secondaryKey: r['secondary_key'] as string,
    rights: r['rights'] as string[],
  };
}

function checkExpected(kind: string, id: string, expected: Expected, version: number): void {
  if (expected !== '*' && expected !== version) {
    throw new PreconditionFailedError(`The ETag of ${kind} ${id} does not match; it was changed since it was read.`);
  }
}

/** Postgres implementation of {@link RegistryStore} (schema `registry`). */
export class PgRegistryStore implements RegistryStore {
  readonly #pool: Pool;
  readonly #onEvents: () => void;

  /** `onEvents` is called after a commit that wrote to the outbox (wakes the relay). */
  constructor(pool: Pool, onEvents: () => void = () => {}) {
    this.#pool = pool;
    this.#onEvents = onEvents;
  }

  async #withEvents<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const result = await withTransaction(this.#pool, fn);
    this.#onEvents();
    return result;
  }

  #writeEvent(c: PoolClient, e: OutboxEvent): Promise<void> {
    return writeOutbox(c, 'registry', e);
  }

  async ensureHub(hub: string, policies: readonly PolicyRow[], options: HubOptions): Promise<{ hub: HubRow; created: boolean }> {
    return withTransaction(this.#pool, async (c) => {
      const ins = await c.query(
        'INSERT INTO registry.hubs (name, partition_count, retention_days) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING name, created_at, partition_count, retention_days, sku_name, sku_units',
        [hub, options.partitionCount, options.retentionDays],
      );
      if (ins.rowCount === 1) {
        for (const p of policies) {
          await c.query('INSERT INTO registry.policies (hub, key_name, primary_key, secondary_key, rights) VALUES ($1, $2, $3, $4, $5)', [
            hub,
            p.keyName,
            p.primaryKey,
            p.secondaryKey,
            p.rights,
          ]);
        }
        return { hub: hubRow(ins.rows[0]), created: true };
      }
      const got = await c.query('SELECT name, created_at, partition_count, retention_days, sku_name, sku_units FROM registry.hubs WHERE name = $1', [hub]);
      return { hub: hubRow(got.rows[0]), created: false };
    });
  }

  async getHub(hub: string): Promise<HubRow | undefined> {
    const r = await this.#pool.query('SELECT name, created_at, partition_count, retention_days, sku_name, sku_units FROM registry.hubs WHERE name = $1', [hub]);
    return r.rows[0] ? hubRow(r.rows[0]) : undefined;
  }

  async listPolicies(hub: string): Promise<PolicyRow[]> {
    const r = await this.#pool.query('SELECT * FROM registry.policies WHERE hub = $1 ORDER BY key_name', [hub]);
    return r.rows.map(toPolicy);
  }

  async getPolicy(hub: string, keyName: string): Promise<PolicyRow | undefined> {
    const r = await this.#pool.query('SELECT * FROM registry.policies WHERE hub = $1 AND key_name = $2', [hub, keyName]);
    return r.rows[0] ? toPolicy(r.rows[0]) : undefined;
  }

  async setPolicyKeys(hub: string, keyName: string, keys: { primaryKey: string; secondaryKey: string }): Promise<PolicyRow | undefined> {
    const r = await this.#pool.query(
      'UPDATE registry.policies SET primary_key = $3, secondary_key = $4 WHERE hub = $1 AND key_name = $2 RETURNING *',
      [hub, keyName, keys.primaryKey, keys.secondaryKey],
    );
    return r.rows[0] ? toPolicy(r.rows[0]) : undefined;
  }

  async insertDevice(hub: string, d: NewDevice, opts: { maxDevices: number; event: (d: DeviceIdentity) => OutboxEvent }): Promise<DeviceIdentity> {
    return this.#withEvents(async (c) => {
      // The hub row is the per-hub quota counter; the UPDATE also serializes concurrent creates.
      // A failed insert below rolls the increment back with the transaction.
      const count = await c.query('UPDATE registry.hubs SET device_count = device_count + 1 WHERE name = $1 RETURNING device_count', [hub]);
      if (count.rowCount === 0) throw new DomainError('IotHubNotFound', `IoT hub ${hub} not found.`);
      if (Number(count.rows[0].device_count) > opts.maxDevices) {
        throw new DomainError('IotHubQuotaExceeded', `The hub already holds its maximum of ${opts.maxDevices} devices.`);
      }
      let row: Row;
      try {
        const r = await c.query(
          `INSERT INTO registry.devices (hub, device_id, generation_id, version, status, status_reason, status_updated_time,
             auth_type, primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, device_scope, parent_scopes)
           VALUES ($1,$2,$3,nextval('registry.etag_seq'),$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)
           RETURNING ${DEVICE_COLUMNS}`,
          [hub, d.deviceId, d.generationId, d.status, d.statusReason, d.statusUpdatedTime, d.authentication.type,
            d.authentication.primaryKey, d.authentication.secondaryKey, d.authentication.primaryThumbprint,
            d.authentication.secondaryThumbprint, d.iotEdge, d.deviceScope, d.parentScopes],
        );
        row = r.rows[0];
      } catch (err) {
        if (isUniqueViolation(err)) throw new DomainError('DeviceAlreadyExists', `A device with ID ${d.deviceId} is already registered.`);
        throw err;
      }
      const created = toDevice(row);
      await this.#writeEvent(c, opts.event(created));
      return created;
    });
  }

  async updateDevice(hub: string, deviceId: string, expected: Expected, mutate: (cur: DeviceIdentity) => NewDevice): Promise<DeviceIdentity> {
    return withTransaction(this.#pool, async (c) => {
      const cur = await c.query(`SELECT ${DEVICE_COLUMNS} FROM registry.devices WHERE hub = $1 AND device_id = $2 FOR UPDATE`, [hub, deviceId]);
      if (!cur.rows[0]) throw new DeviceNotFoundError(deviceId);
      const current = toDevice(cur.rows[0]);
      checkExpected('device', deviceId, expected, current.version);
      const d = mutate(current);
      const r = await c.query(
        `UPDATE registry.devices SET version = nextval('registry.etag_seq'), status = $3, status_reason = $4,
           status_updated_time = $5, auth_type = $6, primary_key = $7, secondary_key = $8, primary_thumbprint = $9,
           secondary_thumbprint = $10, iot_edge = $11, device_scope = $12, parent_scopes = $13
         WHERE hub = $1 AND device_id = $2 RETURNING ${DEVICE_COLUMNS}`,
        [hub, deviceId, d.status, d.statusReason, d.statusUpdatedTime, d.authentication.type, d.authentication.primaryKey,
          d.authentication.secondaryKey, d.authentication.primaryThumbprint, d.authentication.secondaryThumbprint,
          d.iotEdge, d.deviceScope, d.parentScopes],
      );
      return toDevice(r.rows[0]);
    });
  }

  async deleteDevice(
    hub: string,
    deviceId: string,
    expected: Expected,
    events: (d: DeviceIdentity, connected: ReadonlyArray<{ moduleId: string; connectionId: string }>) => OutboxEvent[],
  ): Promise<DeviceIdentity> {
    return this.#withEvents(async (c) => {
      const cur = await c.query(`SELECT ${DEVICE_COLUMNS} FROM registry.devices WHERE hub = $1 AND device_id = $2 FOR UPDATE`, [hub, deviceId]);
      if (!cur.rows[0]) throw new DeviceNotFoundError(deviceId);
      const current = toDevice(cur.rows[0]);
      checkExpected('device', deviceId, expected, current.version);
      const connected = await c.query<{ module_id: string; connection_id: string }>(
        `SELECT '' AS module_id, connection_id FROM registry.devices WHERE hub = $1 AND device_id = $2 AND connection_state = 'Connected'
         UNION ALL SELECT module_id, connection_id FROM registry.modules WHERE hub = $1 AND device_id = $2 AND connection_state = 'Connected'`,
        [hub, deviceId],
      );
      await c.query('DELETE FROM registry.devices WHERE hub = $1 AND device_id = $2', [hub, deviceId]);
      await c.query('UPDATE registry.hubs SET device_count = device_count - 1 WHERE name = $1', [hub]);
      for (const e of events(current, connected.rows.map((r) => ({ moduleId: r.module_id, connectionId: r.connection_id })))) await this.#writeEvent(c, e);
      return current;
    });
  }

  async getDevice(hub: string, deviceId: string): Promise<DeviceIdentity | undefined> {
    const r = await this.#pool.query(`SELECT ${DEVICE_COLUMNS} FROM registry.devices WHERE hub = $1 AND device_id = $2`, [hub, deviceId]);
    return r.rows[0] ? toDevice(r.rows[0]) : undefined;
  }

  async getIdentities(refs: readonly IdentityRef[]): Promise<Array<{ device: DeviceIdentity | undefined; module: ModuleIdentity | undefined }>> {
    const key = (hub: string, deviceId: string, moduleId = '') => `${hub}\u0000${deviceId}\u0000${moduleId}`;
    const withModule = refs.filter((r) => r.moduleId);
    const [devices, modules] = await Promise.all([
      this.#pool.query(
        `SELECT k.hub, ${DEVICE_COLUMNS} FROM registry.devices JOIN unnest($1::text[], $2::text[]) AS k(hub, device_id) USING (hub, device_id)`,
        [refs.map((r) => r.hub), refs.map((r) => r.deviceId)],
      ),
      withModule.length === 0
        ? undefined
        : this.#pool.query(
            `SELECT k.hub, ${MODULE_COLUMNS} FROM registry.modules JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(hub, device_id, module_id) USING (hub, device_id, module_id)`,
            [withModule.map((r) => r.hub), withModule.map((r) => r.deviceId), withModule.map((r) => r.moduleId)],
          ),
    ]);
    const foundDevices = new Map(devices.rows.map((row) => [key(row.hub as string, row.device_id as string), toDevice(row)]));
    const foundModules = new Map((modules?.rows ?? []).map((row) => [key(row.hub as string, row.device_id as string, row.module_id as string), toModule(row)]));
    return refs.map((r) => ({ device: foundDevices.get(key(r.hub, r.deviceId)), module: r.moduleId ? foundModules.get(key(r.hub, r.deviceId, r.moduleId)) : undefined }));
  }

  async listDevices(hub: string, top: number, afterDeviceId = ''): Promise<DeviceIdentity[]> {
    const r = await this.#pool.query(`SELECT ${DEVICE_COLUMNS} FROM registry.devices WHERE hub = $1 AND device_id > $3 ORDER BY device_id LIMIT $2`, [hub, top, afterDeviceId]);
    return r.rows.map(toDevice);
  }

  async statistics(hub: string): Promise<Statistics> {
    const r = await this.#pool.query(
      `SELECT count(*)::bigint AS total, count(*) FILTER (WHERE status = 'enabled')::bigint AS enabled
         FROM registry.devices WHERE hub = $1`,
      [hub],
    );
    const total = Number(r.rows[0].total);
    const enabled = Number(r.rows[0].enabled);
    return { total, enabled, disabled: total - enabled };
  }

  async insertModule(hub: string, m: NewModule, opts: { maxModules: number; event: (m: ModuleIdentity) => OutboxEvent }): Promise<ModuleIdentity> {
    return this.#withEvents(async (c) => {
      // lock the parent device row: serializes module creates per device for the 20-module limit
      const parent = await c.query('SELECT 1 FROM registry.devices WHERE hub = $1 AND device_id = $2 FOR UPDATE', [hub, m.deviceId]);
      if (parent.rowCount === 0) throw new DeviceNotFoundError(m.deviceId);
      const n = await c.query<{ n: number; exists: boolean }>(
        'SELECT count(*)::int AS n, bool_or(module_id = $3) AS exists FROM registry.modules WHERE hub = $1 AND device_id = $2',
        [hub, m.deviceId, m.moduleId],
      );
      if (n.rows[0]?.exists) throw new DomainError('ModuleAlreadyExistsOnDevice', `A module with ID ${m.moduleId} already exists on device ${m.deviceId}.`);
      if ((n.rows[0]?.n ?? 0) >= opts.maxModules) {
        throw new DomainError('TooManyModulesOnDevice', `Device ${m.deviceId} already has the maximum of ${opts.maxModules} modules.`);
      }
      let row: Row;
      try {
        const r = await c.query(
          `INSERT INTO registry.modules (hub, device_id, module_id, generation_id, version, auth_type, primary_key, secondary_key,
             primary_thumbprint, secondary_thumbprint, managed_by)
           VALUES ($1,$2,$3,$4,nextval('registry.etag_seq'),$5,$6,$7,$8,$9,$10) RETURNING ${MODULE_COLUMNS}`,
          [hub, m.deviceId, m.moduleId, m.generationId, m.authentication.type, m.authentication.primaryKey, m.authentication.secondaryKey,
            m.authentication.primaryThumbprint, m.authentication.secondaryThumbprint, m.managedBy],
        );
        row = r.rows[0];
      } catch (err) {
        if (isUniqueViolation(err)) throw new DomainError('ModuleAlreadyExistsOnDevice', `A module with ID ${m.moduleId} already exists on device ${m.deviceId}.`);
        if (isForeignKeyViolation(err)) throw new DeviceNotFoundError(m.deviceId);
        throw err;
      }
      const created = toModule(row);
      await this.#writeEvent(c, opts.event(created));
      return created;
    });
  }

  async updateModule(hub: string, deviceId: string, moduleId: string, expected: Expected, mutate: (cur: ModuleIdentity) => NewModule): Promise<ModuleIdentity> {
    return withTransaction(this.#pool, async (c) => {
      const cur = await c.query(`SELECT ${MODULE_COLUMNS} FROM registry.modules WHERE hub = $1 AND device_id = $2 AND module_id = $3 FOR UPDATE`, [hub, deviceId, moduleId]);
      if (!cur.rows[0]) throw new DomainError('ModuleNotFound', `Module ${moduleId} on device ${deviceId} not found.`);
      const current = toModule(cur.rows[0]);
      checkExpected('module', moduleId, expected, current.version);
      const m = mutate(current);
      const r = await c.query(
        `UPDATE registry.modules SET version = nextval('registry.etag_seq'), auth_type = $4, primary_key = $5, secondary_key = $6,
           primary_thumbprint = $7, secondary_thumbprint = $8, managed_by = $9
         WHERE hub = $1 AND device_id = $2 AND module_id = $3 RETURNING ${MODULE_COLUMNS}`,
        [hub, deviceId, moduleId, m.authentication.type, m.authentication.primaryKey, m.authentication.secondaryKey,
          m.authentication.primaryThumbprint, m.authentication.secondaryThumbprint, m.managedBy],
      );
      return toModule(r.rows[0]);
    });
  }

  async deleteModule(hub: string, deviceId: string, moduleId: string, expected: Expected, event: (m: ModuleIdentity) => OutboxEvent): Promise<ModuleIdentity> {
    return this.#withEvents(async (c) => {
      const cur = await c.query(`SELECT ${MODULE_COLUMNS} FROM registry.modules WHERE hub = $1 AND device_id = $2 AND module_id = $3 FOR UPDATE`, [hub, deviceId, moduleId]);
      if (!cur.rows[0]) throw new DomainError('ModuleNotFound', `Module ${moduleId} on device ${deviceId} not found.`);
      const current = toModule(cur.rows[0]);
      checkExpected('module', moduleId, expected, current.version);
      await c.query('DELETE FROM registry.modules WHERE hub = $1 AND device_id = $2 AND module_id = $3', [hub, deviceId, moduleId]);
      await this.#writeEvent(c, event(current));
      return current;
    });
  }

  async getModule(hub: string, deviceId: string, moduleId: string): Promise<ModuleIdentity | undefined> {
    const r = await this.#pool.query(`SELECT ${MODULE_COLUMNS} FROM registry.modules WHERE hub = $1 AND device_id = $2 AND module_id = $3`, [hub, deviceId, moduleId]);
    return r.rows[0] ? toModule(r.rows[0]) : undefined;
  }

  async listModules(hub: string, deviceId: string): Promise<ModuleIdentity[]> {
    const r = await this.#pool.query(`SELECT ${MODULE_COLUMNS} FROM registry.modules WHERE hub = $1 AND device_id = $2 ORDER BY module_id`, [hub, deviceId]);
    return r.rows.map(toModule);
  }

  async reportConnection(hub: string, r: ConnectionReport, event: () => OutboxEvent): Promise<boolean> {
    const table = r.moduleId ? 'registry.modules' : 'registry.devices';
    const key = r.moduleId ? 'hub = $1 AND device_id = $2 AND module_id = $3' : 'hub = $1 AND device_id = $2 AND $3 = \'\'';
    // A connect applies unless a later connect was already recorded; a disconnect only ends the
    // connection it names. Reports can arrive out of order from different gateways.
    const sql = r.connected
      ? `UPDATE ${table} SET connection_state = 'Connected', connection_state_updated_time = $4, connection_id = $5,
           last_activity_time = GREATEST(COALESCE(last_activity_time, $4), $4)
         WHERE ${key} AND (connection_state_updated_time IS NULL OR connection_state_updated_time <= $4)`
      : `UPDATE ${table} SET connection_state = 'Disconnected', connection_state_updated_time = GREATEST(connection_state_updated_time, $4)
         WHERE ${key} AND connection_id = $5 AND connection_state = 'Connected'`;
    const result = await this.#withEvents(async (c) => {
      const u = await c.query(sql, [hub, r.deviceId, r.moduleId, r.at, r.connectionId]);
      if (u.rowCount === 0) return false;
      await this.#writeEvent(c, event());
      return true;
    });
    return result;
  }

  async recordActivity(hub: string, entries: readonly ActivityEntry[]): Promise<void> {
    const devices = entries.filter((e) => !e.moduleId);
    const modules = entries.filter((e) => e.moduleId);
    if (devices.length > 0) {
      await this.#pool.query(
        `UPDATE registry.devices d SET last_activity_time = GREATEST(COALESCE(d.last_activity_time, a.at), a.at)
           FROM unnest($2::text[], $3::timestamptz[]) AS a(device_id, at)
          WHERE d.hub = $1 AND d.device_id = a.device_id`,
        [hub, devices.map((e) => e.deviceId), devices.map((e) => e.at)],
      );
    }
    if (modules.length > 0) {
      await this.#pool.query(
        `UPDATE registry.modules m SET last_activity_time = GREATEST(COALESCE(m.last_activity_time, a.at), a.at)
           FROM unnest($2::text[], $3::text[], $4::timestamptz[]) AS a(device_id, module_id, at)
          WHERE m.hub = $1 AND m.device_id = a.device_id AND m.module_id = a.module_id`,
        [hub, modules.map((e) => e.deviceId), modules.map((e) => e.moduleId), modules.map((e) => e.at)],
      );
    }
  }
}

function hubRow(r: { name: string; created_at: Date; partition_count: number; retention_days: number; sku_name: string; sku_units: number }): HubRow {
  return { name: r.name, createdAt: r.created_at, partitionCount: r.partition_count, retentionDays: r.retention_days, skuName: r.sku_name, skuUnits: r.sku_units };
}
