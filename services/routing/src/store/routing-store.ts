import { randomUUID } from 'node:crypto';
import { PreconditionFailedError } from '@openiothub/errors';
import { withTransaction, type Pool } from '@openiothub/postgres';
import { defaultRouting, type RoutingDoc } from '../domain/routing-config.js';

export type HealthStatus = 'healthy' | 'unhealthy' | 'dead' | 'unknown';

export interface EndpointHealthRow {
  readonly endpoint: string;
  readonly status: Exclude<HealthStatus, 'unknown'>;
  readonly lastError: string | null;
  readonly lastErrorTime: Date | null;
  readonly lastSuccess: Date | null;
}

/** Routing documents, endpoint health and event subscriptions in schema `routing`. */
export class RoutingStore {
  constructor(private readonly pool: Pool) {}

  async get(hub: string): Promise<{ doc: RoutingDoc; etag: string }> {
    const r = await this.pool.query<{ doc: RoutingDoc; etag: string }>('SELECT doc, etag FROM routing.configs WHERE hub = $1', [hub]);
    return r.rows[0] ?? { doc: defaultRouting(), etag: '' };
  }

  /**
   * Replace a hub's document. `validate` sees the stored one (immutable fields) inside the same
   * transaction, so two writers cannot both pass an `If-Match` on one etag.
   */
  async put(hub: string, ifMatch: string, validate: (previous: RoutingDoc | undefined) => RoutingDoc): Promise<{ doc: RoutingDoc; etag: string }> {
    return withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`routing:${hub}`]);
      const r = await c.query<{ doc: RoutingDoc; etag: string }>('SELECT doc, etag FROM routing.configs WHERE hub = $1', [hub]);
      const current = r.rows[0];
      const wanted = ifMatch.replace(/^W\//, '').replace(/^"|"$/g, '');
      if (wanted !== '' && wanted !== '*' && wanted !== (current?.etag ?? '')) {
        throw new PreconditionFailedError('The routing configuration changed since it was read (etag mismatch).');
      }
      const doc = validate(current?.doc);
      const etag = randomUUID();
      await c.query(
        `INSERT INTO routing.configs (hub, doc, etag) VALUES ($1, $2, $3)
         ON CONFLICT (hub) DO UPDATE SET doc = EXCLUDED.doc, etag = EXCLUDED.etag, updated_at = now()`,
        [hub, JSON.stringify(doc), etag],
      );
      // health of endpoints that no longer exist goes with them
      const names = [...doc.endpoints.storageContainers, ...doc.endpoints.webhooks, ...doc.endpoints.natsSubjects].map((e) => e.name.toLowerCase());
      await c.query('DELETE FROM routing.endpoint_health WHERE hub = $1 AND NOT (endpoint_key = ANY($2::text[]))', [hub, names]);
      return { doc, etag };
    });
  }

  /** Every hub that has a stored routing document. */
  async hubs(): Promise<string[]> {
    return (await this.pool.query<{ hub: string }>('SELECT hub FROM routing.configs')).rows.map((r) => r.hub);
  }

  async health(hub: string): Promise<EndpointHealthRow[]> {
    const r = await this.pool.query<{ endpoint_key: string; status: EndpointHealthRow['status']; last_error: string | null; last_error_time: Date | null; last_success: Date | null }>(
      'SELECT endpoint_key, status, last_error, last_error_time, last_success FROM routing.endpoint_health WHERE hub = $1',
      [hub],
    );
    return r.rows.map((x) => ({ endpoint: x.endpoint_key, status: x.status, lastError: x.last_error, lastErrorTime: x.last_error_time, lastSuccess: x.last_success }));
  }

  async setHealth(hub: string, endpoint: string, status: EndpointHealthRow['status'], error?: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO routing.endpoint_health (hub, endpoint_key, status, last_error, last_error_time, last_success)
       VALUES ($1, $2, $3, $4, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END, CASE WHEN $3 = 'healthy' THEN now() END)
       ON CONFLICT (hub, endpoint_key) DO UPDATE SET status = EXCLUDED.status,
         last_error = COALESCE(EXCLUDED.last_error, routing.endpoint_health.last_error),
         last_error_time = COALESCE(EXCLUDED.last_error_time, routing.endpoint_health.last_error_time),
         last_success = COALESCE(EXCLUDED.last_success, routing.endpoint_health.last_success)`,
      [hub, endpoint.toLowerCase(), status, error ?? null],
    );
  }

  async getSubscriptions(hub: string): Promise<unknown[]> {
    const r = await this.pool.query<{ doc: unknown[] }>('SELECT doc FROM routing.event_subscriptions WHERE hub = $1', [hub]);
    return r.rows[0]?.doc ?? [];
  }

  async putSubscriptions(hub: string, doc: unknown[]): Promise<void> {
    await this.pool.query('INSERT INTO routing.event_subscriptions (hub, doc) VALUES ($1, $2) ON CONFLICT (hub) DO UPDATE SET doc = EXCLUDED.doc', [hub, JSON.stringify(doc)]);
  }
}
