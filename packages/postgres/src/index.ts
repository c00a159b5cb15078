import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** A pg pool with sane defaults; `application_name` shows in pg_stat_activity. */
export function createPool(url: string, name: string, max = 10): pg.Pool {
  return new pg.Pool({ connectionString: url, max, application_name: name, idleTimeoutMillis: 30_000 });
}

/** Run `fn` in a transaction; rolls back on any error and rethrows it. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Apply the forward-only `NNNN_name.sql` files in `dir` that are not yet recorded in
 * `{schema}.schema_migrations`. Runs under a transaction-scoped advisory lock keyed on the schema,
 * so N replicas starting together apply each file once. Returns the names applied now.
 */
export async function migrate(pool: pg.Pool, schema: string, dir: string): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_.+\.sql$/.test(f)).sort();
  return withTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`openiothub.migrate.${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
    const table = `${pg.escapeIdentifier(schema)}.schema_migrations`;
    await client.query(`CREATE TABLE IF NOT EXISTS ${table} (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ name: string }>(`SELECT name FROM ${table}`)).rows.map((r) => r.name));
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      await client.query(await readFile(join(dir, file), 'utf8'));
      await client.query(`INSERT INTO ${table} (name) VALUES ($1)`, [file]);
      applied.push(file);
    }
    return applied;
  });
}

/** True for a Postgres unique-violation error. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === '23505';
}

/** True for a Postgres foreign-key-violation error. */
export function isForeignKeyViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === '23503';
}
export { OutboxRelay, writeOutbox } from './outbox.js';
export type { OutboxEvent, OutboxPublish } from './outbox.js';

/** The part of a service lifecycle these helpers need (structural: no dependency on the runtime package). */
export interface StopHooks {
  onStop(name: string, fn: () => Promise<void> | void): void;
}

/**
 * A service's database: a pool (closed on stop) with the service's migrations applied under the
 * advisory lock. Resolves the pool and the migration files applied now.
 */
export async function openDatabase(opts: { url: string; name: string; schema: string; migrations: string; poolSize?: number; lifecycle: StopHooks }): Promise<{ pool: pg.Pool; applied: string[] }> {
  const pool = createPool(opts.url, opts.name, opts.poolSize);
  opts.lifecycle.onStop('postgres', () => pool.end());
  return { pool, applied: await migrate(pool, opts.schema, opts.migrations) };
}
