import { testUrls } from './env.js';
import { hostPort, tcpReachable } from './probe.js';

/**
 * vitest globalSetup of integration tests: fail at once, naming what is missing, when a backing
 * service is not reachable. Tests never skip silently for lack of one.
 */
export default async function requireBackingServices(): Promise<void> {
  const urls = testUrls();
  const checks = [
    ['Postgres', 'DATABASE_URL', hostPort(urls.databaseUrl, 5432)],
    ['NATS', 'NATS_URL', hostPort(urls.natsUrl, 4222)],
    ['Redis', 'REDIS_URL', hostPort(urls.redisUrl, 6379)],
  ] as const;
  const missing: string[] = [];
  for (const [name, envName, { host, port }] of checks) {
    if (!(await tcpReachable(host, port))) missing.push(`${name} at ${host}:${port} (set ${envName}, or start it: see README "Running the tests")`);
  }
  if (missing.length > 0) throw new Error(`Integration tests need running backing services; not reachable:\n  ${missing.join('\n  ')}`);
}
