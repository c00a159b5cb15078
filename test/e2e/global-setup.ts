import type { TestProject } from 'vitest/node';
import { startLocalHub, type LocalHubInfo } from '@openiothub/local';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';

declare module 'vitest' {
  export interface ProvidedContext {
    hub: LocalHubInfo;
  }
}

/**
 * Start a whole hub in this (the vitest main) process, on the real ports the Azure SDKs dial (443),
 * against the machine's Postgres and NATS, with a hub name of its own so runs never share devices.
 * Test files run in forked processes that inherit NODE_EXTRA_CA_CERTS, as an SDK user's would.
 */
export default async function setup(project: TestProject) {
  const ctx = testContext('e2e-hub');
  const urls = testUrls();
  const hubName = uniqueName('e2e');
  const info = await startLocalHub(
    {
      dataDir: '.data/e2e',
      // a test client may still hold a keep-alive connection at teardown: do not wait for it
      hub: hubName,
      secondHub: `${hubName}-2`,
      dpsInstance: `${hubName}-dps`,
      env: {
        ...process.env,
        DATABASE_URL: urls.databaseUrl,
        NATS_URL: urls.natsUrl,
        REDIS_URL: urls.redisUrl,
        HTTPS_PORT: process.env['HTTPS_PORT'] ?? '443',
        MQTT_PORT: process.env['MQTT_PORT'] ?? '8883',
        AMQP_PORT: process.env['AMQP_PORT'] ?? '5671',
        HTTP_DRAIN_MS: '500',
        // C2D lock timeout and sweeps short enough to watch expiry in a test (IoT Hub: 60 s)
        C2D_LOCK_MS: '3000',
        SWEEP_INTERVAL_MS: '300',
        FEEDBACK_BATCH_MS: '300',
        // blob windows of a second, quick takeover of a dead routing process's partitions (IoT Hub: 60 s minimum)
        ROUTING_MIN_BATCH_FREQUENCY_SECONDS: '1',
        ROUTING_ACK_WAIT_MS: '3000',
        ROUTING_LEASE_MS: '3000',
        // route this run's hub only: other test runs on the same NATS and Redis keep theirs
        ROUTING_HUBS: `${hubName},${hubName}-2`,
        // run this run's jobs only (integration tests run jobs of their own hubs in the same database)
        JOBS_HUBS: `${hubName},${hubName}-2`,
        JOBS_POLL_MS: '100',
        // device streams: a short handshake limit to watch it expire; a known secret so a second streams process can join
        STREAMS_HANDSHAKE_MS: '3000',
        STREAMS_TOKEN_SECRET: 'e2e-streams-secret-0123456789abcdef',
        // provisioning: devices poll after a second; expired failovers are reverted within half a second
        DPS_RETRY_AFTER_SECONDS: '1',
        DPS_FAILOVER_SWEEP_MS: '500',
      },
    },
    ctx,
  );
  process.env['NODE_EXTRA_CA_CERTS'] = info.caCertPath;
  project.provide('hub', info);
  return async () => {
    await ctx[Symbol.asyncDispose]();
  };
}
