import { randomBytes } from 'node:crypto';

/** Backing-service URLs for tests: env first, then this machine's local defaults (trust auth, database `test`). */
export function testUrls(env: Record<string, string | undefined> = process.env) {
  return {
    databaseUrl: env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test',
    natsUrl: env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
  };
}

/** A name unique to this test run: `prefix-<10 hex>`, valid as hub, device and module id. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
