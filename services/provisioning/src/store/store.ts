import { DomainError, PreconditionFailedError } from '@openiothub/errors';
import { isUniqueViolation, withTransaction, type Pool, type PoolClient, type Queryable } from '@openiothub/postgres';
import type { LinkedHub } from '../domain/allocation.js';
import type { EnrollmentSource } from '../domain/attestation.js';
import { etagMatches, etagOf, type JsonObject } from '../domain/documents.js';

export type Kind = 'individual' | 'group';

export interface PolicyRecord {
  readonly keyName: string;
  readonly primaryKey: string;
  readonly secondaryKey: string;
  readonly rights: string[];
}

export interface InstanceRecord {
  readonly name: string;
  readonly idScope: string;
  readonly allocationPolicy: string;
  readonly linkedHubs: LinkedHub[];
  readonly policies: PolicyRecord[];
}

export interface StoredDoc {
  readonly doc: JsonObject;
  readonly etag: string;
}

export interface RegistrationRecord {
  readonly registrationId: string;
  readonly enrollmentKind: Kind;
  readonly enrollmentId: string;
  readonly hub: string;
  readonly deviceId: string;
  readonly doc: JsonObject;
  readonly version: number;
}

export interface FailoverRecord {
  readonly instance: string;
  readonly registrationId: string;
  readonly originalHub: string;
  readonly failoverHub: string;
  readonly revertAt: Date;
}

const LABEL: Record<Kind, string> = { individual: 'enrollment', group: 'enrollment group' };

function instanceOf(r: Record<string, unknown>): InstanceRecord {
  return {
    name: r['name'] as string,
    idScope: r['id_scope'] as string,
    allocationPolicy: r['allocation_policy'] as string,
    linkedHubs: r['linked_hubs'] as LinkedHub[],
    policies: r['policies'] as PolicyRecord[],
  };
}

function registrationOf(r: Record<string, unknown>): RegistrationRecord {
  return {
    registrationId: r['registration_id'] as string,
    enrollmentKind: r['enrollment_kind'] as Kind,
    enrollmentId: r['enrollment_id'] as string,
    hub: r['hub'] as string,
    deviceId: r['device_id'] as string,
    doc: r['doc'] as JsonObject,
    version: Number(r['etag_version']),
  };
}

/** Postgres access for the provisioning schema. */
export class ProvisioningStore {
  constructor(readonly pool: Pool) {}

  async ensureInstance(name: string, idScope: string, policies: PolicyRecord[], allocationPolicy: string | undefined): Promise<InstanceRecord> {
    await this.pool.query(
      `INSERT INTO provisioning.instances (name, id_scope, allocation_policy, policies) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO NOTHING`,
      [name, idScope, allocationPolicy || 'hashed', JSON.stringify(policies)],
    );
    if (allocationPolicy) await this.pool.query(`UPDATE provisioning.instances SET allocation_policy = $2 WHERE name = $1`, [name, allocationPolicy]);
    return (await this.instance({ name }))!;
  }

  async setLinkedHubs(name: string, hubs: LinkedHub[]): Promise<void> {
    await this.pool.query(`UPDATE provisioning.instances SET linked_hubs = $2 WHERE name = $1`, [name, JSON.stringify(hubs)]);
  }

  async instance(by: { name?: string; idScope?: string }): Promise<InstanceRecord | undefined> {
    const { rows } = by.name
      ? await this.pool.query(`SELECT * FROM provisioning.instances WHERE name = $1`, [by.name])
      : await this.pool.query(`SELECT * FROM provisioning.instances WHERE lower(id_scope) = lower($1)`, [by.idScope ?? '']);
    return rows[0] ? instanceOf(rows[0]) : undefined;
  }

  /** Create or replace an enrollment document; If-Match against the stored etag. */
  async putDoc(instance: string, kind: Kind, id: string, build: (previous: JsonObject | undefined) => JsonObject, ifMatch: string | undefined): Promise<StoredDoc> {
    try {
      return await withTransaction(this.pool, async (client) => {
        const { rows } = await client.query(`SELECT doc, etag_version FROM provisioning.enrollments WHERE instance = $1 AND kind = $2 AND id = $3 FOR UPDATE`, [instance, kind, id]);
        const prev = rows[0] as { doc: JsonObject; etag_version: string } | undefined;
        if (prev && !etagMatches(ifMatch, etagOf(kind, id, prev.etag_version))) throw new PreconditionFailedError(`The ${LABEL[kind]} "${id}" was changed: its etag does not match If-Match.`);
        if (!prev && ifMatch !== undefined && ifMatch.trim() !== '' && ifMatch.trim() !== '*') throw new PreconditionFailedError(`The ${LABEL[kind]} "${id}" does not exist, so no etag can match.`);
        const version = prev ? Number(prev.etag_version) + 1 : 1;
        const doc = build(prev?.doc);
        await client.query(
          `INSERT INTO provisioning.enrollments (instance, kind, id, doc, etag_version) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (instance, kind, id) DO UPDATE SET doc = EXCLUDED.doc, etag_version = EXCLUDED.etag_version`,
          [instance, kind, id, JSON.stringify(doc), version],
        );
        return { doc, etag: etagOf(kind, id, version) };
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new PreconditionFailedError(`The ${LABEL[kind]} "${id}" was written concurrently; retry.`);
      throw err;
    }
  }

  async getDoc(instance: string, kind: Kind, id: string): Promise<StoredDoc | undefined> {
    const { rows } = await this.pool.query(`SELECT doc, etag_version FROM provisioning.enrollments WHERE instance = $1 AND kind = $2 AND id = $3`, [instance, kind, id]);
    const r = rows[0] as { doc: JsonObject; etag_version: string } | undefined;
    return r ? { doc: r.doc, etag: etagOf(kind, id, r.etag_version) } : undefined;
  }

  async deleteDoc(instance: string, kind: Kind, id: string, ifMatch: string | undefined): Promise<void> {
    const current = await this.getDoc(instance, kind, id);
    if (!current) throw new DomainError('NotFound', `The ${LABEL[kind]} "${id}" does not exist.`);
    if (!etagMatches(ifMatch, current.etag)) throw new PreconditionFailedError(`The ${LABEL[kind]} "${id}" was changed: its etag does not match If-Match.`);
    await this.pool.query(`DELETE FROM provisioning.enrollments WHERE instance = $1 AND kind = $2 AND id = $3`, [instance, kind, id]);
  }

  /** A page of documents in id order after `after`. */
  async listDocs(instance: string, kind: Kind, limit: number, after: string): Promise<StoredDoc[]> {
    const { rows } = await this.pool.query(
      `SELECT id, doc, etag_version FROM provisioning.enrollments WHERE instance = $1 AND kind = $2 AND id > $3 ORDER BY id LIMIT $4`,
      [instance, kind, after, limit],
    );
    return rows.map((r: { id: string; doc: JsonObject; etag_version: string }) => ({ doc: r.doc, etag: etagOf(kind, r.id, r.etag_version) }));
  }

  /** What attestation reads: an individual enrollment's document, and the groups of a type. */
  enrollmentSource(): EnrollmentSource {
    return { individual: async (instance, id) => (await this.getDoc(instance, 'individual', id))?.doc, groups: (instance, type) => this.groups(instance, type) };
  }

  /** Enrollment groups with one attestation type (a device's credential is checked against each). */
  async groups(instance: string, type: 'symmetricKey' | 'x509'): Promise<Array<{ id: string; doc: JsonObject }>> {
    const { rows } = await this.pool.query(
      `SELECT id, doc FROM provisioning.enrollments WHERE instance = $1 AND kind = 'group' AND doc->'attestation'->>'type' = $2 ORDER BY id`,
      [instance, type],
    );
    return rows as Array<{ id: string; doc: JsonObject }>;
  }

  async registration(q: Queryable, instance: string, registrationId: string, lock = false): Promise<RegistrationRecord | undefined> {
    const { rows } = await q.query(`SELECT * FROM provisioning.registrations WHERE instance = $1 AND registration_id = $2${lock ? ' FOR UPDATE' : ''}`, [instance, registrationId]);
    return rows[0] ? registrationOf(rows[0]) : undefined;
  }

  /** The registration of a device id (manual failover names devices). */
  async registrationOfDevice(instance: string, deviceId: string): Promise<RegistrationRecord | undefined> {
    const { rows } = await this.pool.query(`SELECT * FROM provisioning.registrations WHERE instance = $1 AND (registration_id = $2 OR device_id = $2) ORDER BY registration_id = $2 DESC LIMIT 1`, [instance, deviceId]);
    return rows[0] ? registrationOf(rows[0]) : undefined;
  }

  async saveRegistration(q: Queryable, instance: string, r: Omit<RegistrationRecord, 'version'>): Promise<number> {
    const { rows } = await q.query(
      `INSERT INTO provisioning.registrations (instance, registration_id, enrollment_kind, enrollment_id, hub, device_id, doc)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (instance, registration_id) DO UPDATE SET enrollment_kind = EXCLUDED.enrollment_kind, enrollment_id = EXCLUDED.enrollment_id,
         hub = EXCLUDED.hub, device_id = EXCLUDED.device_id, doc = EXCLUDED.doc, etag_version = provisioning.registrations.etag_version + 1
       RETURNING etag_version`,
      [instance, r.registrationId, r.enrollmentKind, r.enrollmentId, r.hub, r.deviceId, JSON.stringify(r.doc)],
    );
    return Number((rows[0] as { etag_version: string }).etag_version);
  }

  async deleteRegistration(instance: string, registrationId: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(`DELETE FROM provisioning.registrations WHERE instance = $1 AND registration_id = $2`, [instance, registrationId]);
    return (rowCount ?? 0) > 0;
  }

  async registrationsOfGroup(instance: string, groupId: string, limit: number, after: string): Promise<RegistrationRecord[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM provisioning.registrations WHERE instance = $1 AND enrollment_kind = 'group' AND enrollment_id = $2 AND registration_id > $3 ORDER BY registration_id LIMIT $4`,
      [instance, groupId, after, limit],
    );
    return rows.map(registrationOf);
  }

  /** Devices assigned to each hub of the instance (lowest-load allocation). */
  async hubLoad(instance: string): Promise<Map<string, number>> {
    const { rows } = await this.pool.query(`SELECT hub, count(*)::int AS n FROM provisioning.registrations WHERE instance = $1 AND hub <> '' GROUP BY hub`, [instance]);
    return new Map(rows.map((r: { hub: string; n: number }) => [r.hub, r.n]));
  }

  async saveOperation(q: Queryable, operationId: string, instance: string, registrationId: string, result: JsonObject): Promise<void> {
    await q.query(`INSERT INTO provisioning.operations (operation_id, instance, registration_id, result) VALUES ($1, $2, $3, $4)`, [operationId, instance, registrationId, JSON.stringify(result)]);
  }

  async operation(instance: string, registrationId: string, operationId: string): Promise<JsonObject | undefined> {
    const { rows } = await this.pool.query(`SELECT result FROM provisioning.operations WHERE operation_id = $1 AND instance = $2 AND registration_id = $3`, [operationId, instance, registrationId]);
    return (rows[0] as { result: JsonObject } | undefined)?.result;
  }

  async dropOldOperations(olderThanHours: number): Promise<number> {
    const { rowCount } = await this.pool.query(`DELETE FROM provisioning.operations WHERE created_at < now() - make_interval(hours => $1)`, [olderThanHours]);
    return rowCount ?? 0;
  }

  async failover(q: Queryable, instance: string, registrationId: string): Promise<FailoverRecord | undefined> {
    const { rows } = await q.query(`SELECT * FROM provisioning.failovers WHERE instance = $1 AND registration_id = $2`, [instance, registrationId]);
    const r = rows[0] as Record<string, unknown> | undefined;
    return r ? { instance, registrationId, originalHub: r['original_hub'] as string, failoverHub: r['failover_hub'] as string, revertAt: r['revert_at'] as Date } : undefined;
  }

  async saveFailover(q: Queryable, f: FailoverRecord): Promise<void> {
    await q.query(
      `INSERT INTO provisioning.failovers (instance, registration_id, original_hub, failover_hub, revert_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (instance, registration_id) DO UPDATE SET failover_hub = EXCLUDED.failover_hub, revert_at = EXCLUDED.revert_at`,
      [f.instance, f.registrationId, f.originalHub, f.failoverHub, f.revertAt],
    );
  }

  async deleteFailover(q: Queryable, instance: string, registrationId: string): Promise<void> {
    await q.query(`DELETE FROM provisioning.failovers WHERE instance = $1 AND registration_id = $2`, [instance, registrationId]);
  }

  /** Failovers whose time is up (any process may revert them; the registration lock serialises). */
  async dueFailovers(limit: number): Promise<Array<{ instance: string; registrationId: string }>> {
    const { rows } = await this.pool.query(`SELECT instance, registration_id FROM provisioning.failovers WHERE revert_at <= now() ORDER BY revert_at LIMIT $1`, [limit]);
    return rows.map((r: { instance: string; registration_id: string }) => ({ instance: r.instance, registrationId: r.registration_id }));
  }

  /** Run `fn` in a transaction holding the lock of one registration id (concurrent registers of one device serialise). */
  withRegistrationLock<T>(instance: string, registrationId: string, fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 7))`, [`${instance}\n${registrationId}`]);
      return fn(client);
    });
  }

}
