import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// the local hub's dev certificates (deploy/local depends on this service, so not as a package)
import { ensureDevCertificates } from '../../../deploy/local/src/certs.js';
import { connectClient, streamsV1 } from '@openiothub/proto';
import { openStream } from '@openiothub/stream-client';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createStreamsApp, loadStreamsConfig } from '../src/index.js';

// The streams service against Redis: the per-hub limit, and a stream leaving the count when it ends.
const urls = testUrls();
const ctx = testContext('streams-int');
let client: ReturnType<typeof connectClient<streamsV1.StreamsServiceClient>>;
let ca: Buffer;

beforeAll(async () => {
  const certs = await ensureDevCertificates(mkdtempSync(join(tmpdir(), 'oih-streams-int-')));
  ca = readFileSync(certs.caCertPath);
  const app = await createStreamsApp(
    loadStreamsConfig({
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      RELAY_HOST: '127.0.0.1',
      RELAY_PORT: '0',
      TLS_CERT_PATH: certs.serverCertPath,
      TLS_KEY_PATH: certs.serverKeyPath,
      RELAY_CA_PATH: certs.caCertPath,
      STREAMS_TOKEN_SECRET: 'streams-int-secret-0123456789',
      STREAMS_MAX_PER_HUB: '2',
      STREAMS_HANDSHAKE_MS: '1500',
    }),
    ctx,
  );
  client = connectClient(streamsV1.StreamsServiceClient, streamsV1.StreamsServiceService, `127.0.0.1:${app.grpcPort}`);
});
afterAll(async () => {
  client?.close();
  await ctx[Symbol.asyncDispose]();
});

describe('streams service', () => {
  it('limits streams per hub; one that ends, or misses its handshake, frees its place', async () => {
    const hub = uniqueName('sh');
    const a = await client.createStream({ hub, deviceId: 'd', streamName: 's' });
    await client.createStream({ hub, deviceId: 'd', streamName: 's' });
    await expect(client.createStream({ hub, deviceId: 'd', streamName: 's' })).rejects.toMatchObject({ code: 'ThrottlingException' });
    expect((await client.createStream({ hub: uniqueName('other'), deviceId: 'd', streamName: 's' })).uri).toMatch(/\/bridges\/other-/);
    // stream a is paired, then both sides close: its place frees at once
    const [dev, svc] = await Promise.all([openStream(a.uri, a.deviceToken, { ca }), openStream(a.uri, a.serviceToken, { ca })]);
    dev.resume();
    svc.destroy();
    await new Promise<void>((r) => dev.once('close', () => r()));
    await new Promise((r) => setTimeout(r, 200));
    await client.createStream({ hub, deviceId: 'd', streamName: 's' });
    await expect(client.createStream({ hub, deviceId: 'd', streamName: 's' })).rejects.toMatchObject({ code: 'ThrottlingException' });
    // the others never connected: after the handshake limit they no longer count
    await new Promise((r) => setTimeout(r, 1700));
    await client.createStream({ hub, deviceId: 'd', streamName: 's' });
    await expect(client.createStream({ hub, deviceId: 'd', streamName: 'bad name!' })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
  });
});
