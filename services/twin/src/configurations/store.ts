import { DomainError, PreconditionFailedError } from '@openiothub/errors';
import { withTransaction, type Pool } from '@openiothub/postgres';
import { configurationEtag, MAX_CONFIGURATIONS_PER_HUB, type ConfigurationSpec, type StoredConfiguration } from './configuration.js';

type Row = Record<string, unknown>;

function toStored(r: Row): StoredConfiguration {
  const doc = r['doc'] as ConfigurationSpec;
  return { ...doc, etagVersion: Number(r['etag_version']), createdTime: r['created_at'] as Date, updatedTime: r['updated_at'] as Date };
}

/** If-Match on configurations: absent, `*`, or the current etag (quoted or not). */
function etagAllows(ifMatch: string | undefined, etagVersion: number): boolean {
  if (ifMatch === undefined) return true;
  const v = ifMatch.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return v === '*' || v === configurationEtag(etagVersion);
}

/** Configurations in Postgres (`twin.configurations`), one JSON document each. */
export class ConfigurationStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Create (no If-Match: 409 when it exists) or update (If-Match `*` or the etag: 404 when it does
   * not exist, 412 on a stale etag). `update` checks what may change and returns the new spec.
   */
  async put(hub: string, spec: ConfigurationSpec, ifMatch: string | undefined, update: (old: StoredConfiguration) => ConfigurationSpec): Promise<StoredConfiguration> {
    return withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 11))', [`configurations:${hub}`]);
      const existing = (await c.query<Row>('SELECT * FROM twin.configurations WHERE hub = $1 AND id = $2 FOR UPDATE', [hub, spec.id])).rows[0];
      if (!existing) {
        if (ifMatch !== undefined && ifMatch.trim().replace(/^"|"$/g, '') !== '*') throw new DomainError('NotFound', `Configuration ${spec.id} does not exist.`);
        const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM twin.configurations WHERE hub = $1', [hub]);
        if (Number(rows[0]!.n) >= MAX_CONFIGURATIONS_PER_HUB) throw new DomainError('IotHubQuotaExceeded', `A hub holds at most ${MAX_CONFIGURATIONS_PER_HUB} configurations.`);
        const inserted = await c.query<Row>('INSERT INTO twin.configurations (hub, id, doc) VALUES ($1, $2, $3) RETURNING *', [hub, spec.id, JSON.stringify(spec)]);
        return toStored(inserted.rows[0]!);
      }
      if (ifMatch === undefined) throw new DomainError('EntityAlreadyExists', `Configuration ${spec.id} already exists; send If-Match to update it.`);
      const old = toStored(existing);
      if (!etagAllows(ifMatch, old.etagVersion)) throw new PreconditionFailedError('The configuration was changed since it was read: its etag does not match If-Match.');
      const next = update(old);
      const updated = await c.query<Row>(
        'UPDATE twin.configurations SET doc = $3, etag_version = etag_version + 1, updated_at = clock_timestamp() WHERE hub = $1 AND id = $2 RETURNING *',
        [hub, spec.id, JSON.stringify(next)],
      );
      return toStored(updated.rows[0]!);
    });
  }

  async get(hub: string, id: string): Promise<StoredConfiguration | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM twin.configurations WHERE hub = $1 AND id = $2', [hub, id]);
    return rows[0] ? toStored(rows[0]) : undefined;
  }

  async list(hub: string, top = MAX_CONFIGURATIONS_PER_HUB): Promise<StoredConfiguration[]> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM twin.configurations WHERE hub = $1 ORDER BY created_at, id LIMIT $2', [hub, top]);
    return rows.map(toStored);
  }

  async delete(hub: string, id: string, ifMatch: string | undefined): Promise<boolean> {
    return withTransaction(this.pool, async (c) => {
      const existing = (await c.query<Row>('SELECT * FROM twin.configurations WHERE hub = $1 AND id = $2 FOR UPDATE', [hub, id])).rows[0];
      if (!existing) return false;
      if (!etagAllows(ifMatch, Number(existing['etag_version']))) throw new PreconditionFailedError('The configuration was changed since it was read: its etag does not match If-Match.');
      await c.query('DELETE FROM twin.configurations WHERE hub = $1 AND id = $2', [hub, id]);
      return true;
    });
  }

  /** Hubs that have configurations, for the reconciler. */
  async hubs(): Promise<string[]> {
    const { rows } = await this.pool.query<{ hub: string }>('SELECT DISTINCT hub FROM twin.configurations');
    return rows.map((r) => r.hub);
  }
}
