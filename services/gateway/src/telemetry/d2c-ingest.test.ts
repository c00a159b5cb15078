import { describe, expect, it } from 'vitest';
import { D2CIngest, MAX_D2C_BYTES } from './d2c-ingest.js';
import type { LeanJetStreamPublisher } from '@openiothub/bus';
import { decodeD2C } from '@openiothub/bus';

type Published = { subject: string; data: Uint8Array; headers: Parameters<LeanJetStreamPublisher['publish']>[2] };

// a recording stand-in for the publisher: the unit under test is what ingest builds, not NATS
function recorder() {
  const published: Published[] = [];
  const publisher = { publish: async (subject: string, data: Uint8Array, headers?: Published['headers']) => (published.push({ subject, data, headers }), { stream: 'D2C', seq: 1, duplicate: false }) };
  return { published, publisher: publisher as unknown as LeanJetStreamPublisher };
}

const auth = { hub: 'h1', deviceId: 'dev1', moduleId: 'm1', generationId: '123', scope: 'module' as const, keyName: undefined, expiresAt: 0 };

describe('D2CIngest', () => {
  it('stamps connection properties the device cannot override, keeps its own, and picks the partition', async () => {
    const { published, publisher } = recorder();
    const ingest = new D2CIngest({ publisher });
    const ctx = ingest.contextFor(auth, 'dtmi:x;1', 4);
    await ingest.send(ctx, { body: Buffer.from('b'), system: { 'message-id': 'm', 'iothub-connection-device-id': 'spoofed' }, application: { a: '1' } }, new Date('2026-01-01T00:00:00Z'));
    const [p] = published;
    expect(p!.subject).toMatch(/^ingest\.h1\.[0-3]$/);
    // a hub with more partitions spreads devices over all of them
    const spread = new Set(Array.from({ length: 200 }, (_, i) => ingest.contextFor({ ...auth, deviceId: `d${i}` }, undefined, 32).subject));
    expect(spread.size).toBe(32);
    expect(p!.headers?.get('Nats-Msg-Id')).toBe('h1/dev1/m1/m');
    const msg = decodeD2C(p!.headers, p!.data);
    expect(msg.systemProperties).toMatchObject({
      'message-id': 'm',
      'iothub-connection-device-id': 'dev1',
      'iothub-connection-module-id': 'm1',
      'iothub-connection-auth-generation-id': '123',
      'iothub-enqueuedtime': '2026-01-01T00:00:00.000Z',
      'dt-dataschema': 'dtmi:x;1',
    });
    expect(msg.applicationProperties).toEqual({ a: '1' });
  });

  it('gives messages without an id a fresh one and refuses oversized ones', async () => {
    const { published, publisher } = recorder();
    const ingest = new D2CIngest({ publisher });
    const ctx = ingest.contextFor({ ...auth, moduleId: undefined, scope: 'device' }, undefined, 4);
    await ingest.send(ctx, { body: Buffer.from('x'), system: {}, application: {} });
    await ingest.send(ctx, { body: Buffer.from('x'), system: {}, application: {} });
    const ids = published.map((p) => decodeD2C(p.headers, p.data).systemProperties['message-id']);
    expect(new Set(ids).size).toBe(2);
    expect(decodeD2C(published[0]!.headers, published[0]!.data).systemProperties['iothub-connection-module-id']).toBeUndefined();
    await expect(ingest.send(ctx, { body: Buffer.alloc(MAX_D2C_BYTES - 3), system: {}, application: { key: 'value' } })).rejects.toMatchObject({ code: 'MessageTooLarge' });
    await ingest.send(ctx, { body: Buffer.alloc(MAX_D2C_BYTES - 8), system: {}, application: { key: 'val' } });
    expect(published).toHaveLength(3);
  });
});
