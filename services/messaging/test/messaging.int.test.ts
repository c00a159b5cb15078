import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { subjects } from '@openiothub/bus';
import { grpc, messagingV1, promiseClient, registryV1 } from '@openiothub/proto';
import { createRegistryApp, loadRegistryConfig } from '@openiothub/registry';
import { testContext, testUrls, uniqueName } from '@openiothub/testing';
import { createMessagingApp, loadMessagingConfig } from '../src/index.js';

const urls = testUrls();
const ctx = testContext('messaging-int');
const LOCK_MS = 1500;
let registry: ReturnType<typeof promiseClient<registryV1.RegistryServiceClient>>;
let messaging: ReturnType<typeof promiseClient<messagingV1.MessagingServiceClient>>;
let nc: NatsConnection;
const closers: Array<() => void> = [];
const { Outcome } = messagingV1;

beforeAll(async () => {
  const reg = await createRegistryApp(loadRegistryConfig({ DATABASE_URL: urls.databaseUrl, NATS_URL: urls.natsUrl, GRPC_HOST: '127.0.0.1', GRPC_PORT: '0', DEFAULT_HUB: uniqueName('msgdefault') }), ctx);
  const app = await createMessagingApp(
    loadMessagingConfig({
      DATABASE_URL: urls.databaseUrl,
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      REGISTRY_GRPC_URL: `127.0.0.1:${reg.grpcPort}`,
      C2D_LOCK_MS: String(LOCK_MS),
      SWEEP_INTERVAL_MS: '200',
      FEEDBACK_BATCH_MS: '200',
    }),
    ctx,
  );
  const r = new registryV1.RegistryServiceClient(`127.0.0.1:${reg.grpcPort}`, grpc.credentials.createInsecure());
  const m = new messagingV1.MessagingServiceClient(`127.0.0.1:${app.grpcPort}`, grpc.credentials.createInsecure());
  closers.push(() => r.close(), () => m.close());
  registry = promiseClient(r, registryV1.RegistryServiceService);
  messaging = promiseClient(m, messagingV1.MessagingServiceService);
  nc = await connect({ servers: urls.natsUrl });
});

afterAll(async () => {
  for (const c of closers) c();
  await nc?.close();
  await ctx[Symbol.asyncDispose]();
});

/** A hub of its own (feedback is per hub) with one device. */
async function setup(opts: { settings?: object } = {}) {
  const hub = uniqueName('msghub');
  await registry.ensureHub({ hub });
  const deviceId = uniqueName('dev');
  const device = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId }) })).device!;
  if (opts.settings) await messaging.updateSettings({ hub, cloudToDeviceJson: JSON.stringify(opts.settings) });
  const key = { hub, deviceId, moduleId: '' };
  return { hub, deviceId, key, generationId: device.generationId };
}

const msg = (over: Partial<messagingV1.C2DMessage> = {}) => messagingV1.C2DMessage.fromPartial({ body: Buffer.from('hello'), ...over });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Call `fn` until it rejects (or 2 s pass): for changes that reach a cache asynchronously. */
async function untilSettled(fn: () => Promise<unknown>): Promise<unknown> {
  const deadline = Date.now() + 2000;
  for (;;) {
    await fn();
    if (Date.now() > deadline) return undefined;
    await sleep(50);
  }
}

/** Read and complete every feedback message of a hub until `n` records arrived (or time runs out). */
async function feedbackRecords(hub: string, n: number, ms = 5000): Promise<{ records: Array<Record<string, string>>; messages: number }> {
  const records: Array<Record<string, string>> = [];
  let messages = 0;
  const deadline = Date.now() + ms;
  while (records.length < n && Date.now() < deadline) {
    const r = await messaging.receiveFeedback({ hub, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK });
    if (!r.message) {
      await sleep(100);
      continue;
    }
    messages += 1;
    expect(r.message.userId).toBe(hub);
    records.push(...(JSON.parse(r.message.bodyJson) as Array<Record<string, string>>));
    await messaging.settleFeedback({ hub, lockToken: r.message.lockToken, outcome: Outcome.OUTCOME_COMPLETE, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK });
  }
  return { records, messages };
}

describe('C2D queues against Postgres and Redis', () => {
  it('refuses unknown devices, oversized messages and bad ack modes', async () => {
    const { hub, key } = await setup();
    await expect(messaging.send({ key: { ...key, deviceId: 'nobody' }, message: msg() })).rejects.toMatchObject({ code: 'DeviceNotFound' });
    await expect(messaging.send({ key, message: msg({ body: Buffer.alloc(64 * 1024 + 1) }) })).rejects.toMatchObject({ code: 'MessageTooLarge' });
    await expect(messaging.send({ key, message: msg({ ack: 'sometimes' }) })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    expect((await messaging.count({ key })).count).toBe(0);
    void hub;
  });

  it('holds at most 50 messages; completing one makes room (checklist 112)', async () => {
    const { key, generationId } = await setup();
    for (let i = 0; i < 50; i++) await messaging.send({ key, message: msg({ messageId: `m${i}` }) });
    await expect(messaging.send({ key, message: msg() })).rejects.toMatchObject({ code: 'DeviceMaximumQueueDepthExceeded' });
    const r = await messaging.receive({ key, generationId });
    expect(r.message?.messageId).toBe('m0');
    await messaging.settle({ key, lockToken: r.message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE });
    expect((await messaging.count({ key })).count).toBe(49);
    await messaging.send({ key, message: msg() });
  });

  it('never lets concurrent sends past 50', async () => {
    const { key } = await setup();
    const results = await Promise.allSettled(Array.from({ length: 70 }, (_, i) => messaging.send({ key, message: msg({ messageId: `c${i}` }) })));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(50);
    expect(refused).toHaveLength(20);
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'DeviceMaximumQueueDepthExceeded' });
    expect((await messaging.count({ key })).count).toBe(50);
  });

  it('takes a batch of sends for several queues in one go: several for one queue, a full queue refused alone', async () => {
    const a = await setup();
    const b = await setup();
    const full = await setup();
    for (let i = 0; i < 50; i++) await messaging.send({ key: full.key, message: msg() });
    const expiry = new Date(Date.now() + 120_000);
    const r = await messaging.sendBatch({
      items: [
        { key: a.key, message: msg({ messageId: 'a1', properties: { k: 'v' } }) },
        { key: a.key, message: msg({ messageId: 'a2' }) },
        { key: full.key, message: msg({ messageId: 'f' }) },
        { key: b.key, message: msg({ messageId: 'b1', expiryTime: expiry, ack: 'full', body: Buffer.from([0, 255, 1]) }) },
        { key: a.key, message: msg({ messageId: 'a3' }) },
      ],
    });
    expect(r.results.map((x) => x.error?.code ?? x.response?.messageId)).toEqual(['a1', 'a2', 'DeviceMaximumQueueDepthExceeded', 'b1', 'a3']);
    expect((await messaging.count({ key: a.key })).count).toBe(3);
    expect((await messaging.count({ key: full.key })).count).toBe(50);
    const got = (await messaging.receive({ key: b.key, generationId: b.generationId })).message!;
    expect(got).toMatchObject({ messageId: 'b1', ack: 'full', body: Buffer.from([0, 255, 1]) });
    expect(got.expiryTime!.getTime()).toBe(expiry.getTime());
    const first = (await messaging.receive({ key: a.key, generationId: a.generationId })).message!;
    expect(first).toMatchObject({ messageId: 'a1', properties: { k: 'v' } });
  });

  it('locks one delivery per queue; complete removes it and gives positive feedback (114, 115, 127)', async () => {
    const { hub, deviceId, key, generationId } = await setup();
    const nudges = nc.subscribe(subjects.c2d(subjects.identity(hub, deviceId)), { max: 1 });
    const a = await messaging.send({ key, message: msg({ messageId: 'a', ack: 'positive', properties: { color: 'blue' }, correlationId: 'c1', contentType: 'text/plain' }) });
    const b = await messaging.send({ key, message: msg({ messageId: 'b' }) });
    expect(b.sequenceNumber).toBeGreaterThan(a.sequenceNumber);
    for await (const n of nudges) expect(n.subject).toBe(subjects.c2d(subjects.identity(hub, deviceId)));

    const first = await messaging.receive({ key, generationId });
    expect(first.message).toMatchObject({ messageId: 'a', correlationId: 'c1', contentType: 'text/plain', properties: { color: 'blue' }, deliveryCount: 1, to: `/devices/${deviceId}/messages/devicebound`, sequenceNumber: a.sequenceNumber });
    expect(first.message!.enqueuedTime!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(first.message!.expiryTime!.getTime() - first.message!.enqueuedTime!.getTime()).toBe(3600_000);
    const second = await messaging.receive({ key, generationId });
    expect(second.message).toBeUndefined();
    expect(second.retryAfterMs).toBeGreaterThan(0);
    expect(second.retryAfterMs).toBeLessThanOrEqual(LOCK_MS);

    await messaging.settle({ key, lockToken: first.message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE });
    await expect(messaging.settle({ key, lockToken: first.message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE })).rejects.toMatchObject({ code: 'DeviceMessageLockLost' });
    expect((await messaging.count({ key })).count).toBe(1);
    expect((await messaging.receive({ key, generationId })).message?.messageId).toBe('b');

    const fb = await feedbackRecords(hub, 1);
    expect(fb.records).toEqual([{ originalMessageId: 'a', description: 'Success', statusCode: 'Success', deviceId, deviceGenerationId: generationId, enqueuedTimeUtc: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string }]);
  });

  it('locks a send for its holder when it is next in line and no delivery holds the queue; otherwise enqueues and nudges', async () => {
    const { hub, deviceId, key, generationId } = await setup();
    const nudged: string[] = [];
    const sub = nc.subscribe(subjects.c2d(subjects.identity(hub, deviceId)), { callback: (_e, m) => void nudged.push(m.subject) });
    const nudgesAfter = async (fn: () => Promise<unknown>) => {
      nudged.length = 0;
      await fn();
      await nc.flush();
      await sleep(100);
      return nudged.length;
    };
    let a: messagingV1.SendResponse | undefined;
    expect(await nudgesAfter(async () => (a = await messaging.send({ key, message: msg({ messageId: 'a', properties: { k: 'v' } }), holderGenerationId: generationId })))).toBe(0);
    expect(a!.locked).toMatchObject({ messageId: 'a', properties: { k: 'v' }, body: Buffer.from('hello'), deliveryCount: 1, sequenceNumber: a!.sequenceNumber, to: `/devices/${deviceId}/messages/devicebound` });
    expect(a!.locked!.expiryTime!.getTime() - a!.locked!.enqueuedTime!.getTime()).toBe(3600_000);
    // the queue's delivery lock is the holder's: a receive waits for it
    expect((await messaging.receive({ key, generationId })).retryAfterMs).toBeGreaterThan(0);

    // a delivery is in flight: the next send is queued behind it and nudges
    let b: messagingV1.SendResponse | undefined;
    expect(await nudgesAfter(async () => (b = await messaging.send({ key, message: msg({ messageId: 'b' }), holderGenerationId: generationId })))).toBe(1);
    expect(b!.locked).toBeUndefined();
    expect((await messaging.settle({ key, lockToken: a!.locked!.lockToken, outcome: Outcome.OUTCOME_COMPLETE })).remaining).toBe(1);

    // 'b' waits, so 'c' is not next: not locked, and the lock the send took is given back
    const c = await messaging.send({ key, message: msg({ messageId: 'c' }), holderGenerationId: generationId });
    expect(c.locked).toBeUndefined();
    const next = (await messaging.receive({ key, generationId })).message!;
    expect(next.messageId).toBe('b');
    await messaging.settle({ key, lockToken: next.lockToken, outcome: Outcome.OUTCOME_COMPLETE });
    const last = (await messaging.receive({ key, generationId })).message!;
    expect(last.messageId).toBe('c');
    await messaging.settle({ key, lockToken: last.lockToken, outcome: Outcome.OUTCOME_COMPLETE });

    // a holder of an earlier generation, or a message already expired, gets nothing locked
    expect((await messaging.send({ key, message: msg({ messageId: 'd' }), holderGenerationId: 'an-earlier-generation' })).locked).toBeUndefined();
    await messaging.settle({ key, lockToken: (await messaging.receive({ key, generationId })).message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE });
    expect((await messaging.send({ key, message: msg({ messageId: 'e', expiryTime: new Date(Date.now() - 1000) }), holderGenerationId: generationId })).locked).toBeUndefined();
    sub.unsubscribe();
  });

  it('sends, receives and settles for many queues in one batch call each, every item answered alone', async () => {
    const a = await setup();
    const b = await setup();
    const sent = await messaging.sendBatch({
      items: [
        { key: a.key, message: msg({ messageId: 'a1' }) },
        { key: { ...a.key, deviceId: uniqueName('nodev') }, message: msg() },
        { key: b.key, message: msg({ messageId: 'b1' }) },
        { key: a.key, message: msg({ messageId: 'a2', ack: 'bogus' }) },
      ],
    });
    expect(sent.results.map((r) => r.error?.code ?? r.response?.messageId)).toEqual(['a1', 'DeviceNotFound', 'b1', 'ArgumentInvalid']);
    // two receives of one queue in a batch: one lock, the other told to wait
    const got = await messaging.receiveBatch({ items: [{ key: a.key, generationId: a.generationId }, { key: b.key, generationId: b.generationId }, { key: a.key, generationId: a.generationId }] });
    expect(got.results[1]!.response!.message!.messageId).toBe('b1');
    const forA = [got.results[0]!.response!, got.results[2]!.response!];
    expect(forA.filter((r) => r.message?.messageId === 'a1')).toHaveLength(1);
    expect(forA.filter((r) => !r.message && r.retryAfterMs > 0)).toHaveLength(1);
    const tokenA = forA.find((r) => r.message)!.message!.lockToken;
    const settled = await messaging.settleBatch({
      items: [
        { key: a.key, lockToken: tokenA, outcome: Outcome.OUTCOME_COMPLETE },
        { key: b.key, lockToken: '00000000-0000-4000-8000-000000000000', outcome: Outcome.OUTCOME_COMPLETE },
        { key: b.key, lockToken: got.results[1]!.response!.message!.lockToken, outcome: Outcome.OUTCOME_REJECT },
        { key: a.key, lockToken: tokenA, outcome: Outcome.OUTCOME_COMPLETE }, // a lock settles once
      ],
    });
    expect(settled.results.map((r) => r.error?.code ?? r.response?.remaining)).toEqual([0, 'DeviceMessageLockLost', 0, 'DeviceMessageLockLost']);
    expect((await messaging.count({ key: a.key })).count).toBe(0);
    expect((await messaging.count({ key: b.key })).count).toBe(0);
  });

  it('abandon puts a message back, reject dead-letters it with negative feedback (116, 117, 128)', async () => {
    const { hub, deviceId, key, generationId } = await setup();
    await messaging.send({ key, message: msg({ messageId: 'x', ack: 'negative' }) });
    const r1 = await messaging.receive({ key, generationId });
    await messaging.settle({ key, lockToken: r1.message!.lockToken, outcome: Outcome.OUTCOME_ABANDON });
    const r2 = await messaging.receive({ key, generationId });
    expect(r2.message).toMatchObject({ messageId: 'x', deliveryCount: 2 });
    expect(r2.message!.lockToken).not.toBe(r1.message!.lockToken);
    await messaging.settle({ key, lockToken: r2.message!.lockToken, outcome: Outcome.OUTCOME_REJECT });
    expect((await messaging.receive({ key, generationId })).message).toBeUndefined();
    const fb = await feedbackRecords(hub, 1);
    expect(fb.records).toEqual([expect.objectContaining({ originalMessageId: 'x', description: 'Rejected', deviceId })]);
  });

  it('makes a message receivable again when its lock expires; the stale token is refused (118)', async () => {
    const { key, generationId } = await setup();
    await messaging.send({ key, message: msg({ messageId: 'slow' }) });
    const r1 = await messaging.receive({ key, generationId });
    await sleep(LOCK_MS + 100);
    const r2 = await messaging.receive({ key, generationId });
    expect(r2.message).toMatchObject({ messageId: 'slow', deliveryCount: 2 });
    await expect(messaging.settle({ key, lockToken: r1.message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE })).rejects.toMatchObject({ code: 'DeviceMessageLockLost' });
    await messaging.settle({ key, lockToken: r2.message!.lockToken, outcome: Outcome.OUTCOME_COMPLETE });
  });

  it('dead-letters after maxDeliveryCount deliveries (119), full ack reports it', async () => {
    const { hub, key, generationId } = await setup({ settings: { maxDeliveryCount: 2 } });
    await messaging.send({ key, message: msg({ messageId: 'bouncy', ack: 'full' }) });
    for (let i = 1; i <= 2; i++) {
      const r = await messaging.receive({ key, generationId });
      expect(r.message?.deliveryCount).toBe(i);
      await messaging.settle({ key, lockToken: r.message!.lockToken, outcome: Outcome.OUTCOME_ABANDON });
    }
    expect((await messaging.receive({ key, generationId })).message).toBeUndefined();
    expect((await messaging.count({ key })).count).toBe(0);
    expect((await feedbackRecords(hub, 1)).records).toEqual([expect.objectContaining({ originalMessageId: 'bouncy', description: 'DeliveryCountExceeded' })]);
  });

  it('never delivers an expired message and reports Expired (122); ack none gives no feedback (126)', async () => {
    const { hub, key, generationId } = await setup();
    await messaging.send({ key, message: msg({ messageId: 'late', ack: 'negative', expiryTime: new Date(Date.now() - 1000) }) });
    await messaging.send({ key, message: msg({ messageId: 'quiet', ack: 'none', expiryTime: new Date(Date.now() - 1000) }) });
    await messaging.send({ key, message: msg({ messageId: 'soon', ack: 'full', expiryTime: new Date(Date.now() + 1500) }) });
    expect((await messaging.receive({ key, generationId })).message?.messageId).toBe('soon');
    // 'soon' stays locked past its expiry: the sweep must wait for the lock, then dead-letter it
    const fb = await feedbackRecords(hub, 2, LOCK_MS + 4000);
    expect(fb.records.map((r) => [r.originalMessageId, r.description]).sort()).toEqual([
      ['late', 'Expired'],
      ['soon', 'Expired'],
    ]);
    expect((await messaging.count({ key })).count).toBe(0);
  });

  it('batches outcomes that happen together into one feedback message (132); feedback locks and abandons (133)', async () => {
    const { hub, key, generationId } = await setup();
    for (let i = 0; i < 5; i++) await messaging.send({ key, message: msg({ messageId: `b${i}`, ack: 'full' }) });
    for (let i = 0; i < 5; i++) {
      const r = await messaging.receive({ key, generationId });
      await messaging.settle({ key, lockToken: r.message!.lockToken, outcome: i % 2 ? Outcome.OUTCOME_REJECT : Outcome.OUTCOME_COMPLETE });
    }
    // outcomes that pile up before anyone reads feedback end up in one message, whatever the batch passes
    await sleep(1000);
    let got: messagingV1.FeedbackMessage | undefined;
    for (let i = 0; i < 50 && !got; i++) {
      got = (await messaging.receiveFeedback({ hub, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK })).message;
      if (!got) await sleep(100);
    }
    expect(JSON.parse(got!.bodyJson)).toHaveLength(5);
    expect(got!.deliveryCount).toBe(1);
    expect((await messaging.receiveFeedback({ hub, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK })).message).toBeUndefined(); // locked
    await messaging.settleFeedback({ hub, lockToken: got!.lockToken, outcome: Outcome.OUTCOME_ABANDON, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK });
    const again = (await messaging.receiveFeedback({ hub, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK })).message!;
    expect(again.messageId).toBe(got!.messageId);
    expect(again.deliveryCount).toBe(2);
    await messaging.settleFeedback({ hub, lockToken: again.lockToken, outcome: Outcome.OUTCOME_COMPLETE, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK });
    expect((await messaging.receiveFeedback({ hub, queue: messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK })).message).toBeUndefined();
  });

  it('purges a queue with Purged feedback and drops messages of an earlier generation', async () => {
    const { hub, deviceId, key, generationId } = await setup();
    await messaging.send({ key, message: msg({ messageId: 'p1', ack: 'negative' }) });
    await messaging.send({ key, message: msg({ messageId: 'p2' }) });
    await messaging.receive({ key, generationId });
    expect((await messaging.purge({ key })).totalMessagesPurged).toBe(2);
    expect((await messaging.count({ key })).count).toBe(0);
    expect((await feedbackRecords(hub, 1)).records).toEqual([expect.objectContaining({ originalMessageId: 'p1', description: 'Purged' })]);

    await messaging.send({ key, message: msg({ messageId: 'old' }) });
    await registry.deleteDevice({ hub, deviceId });
    // the registry's change announcement (core NATS) drops the cached identity: allow it a moment
    await expect(untilSettled(() => messaging.send({ key, message: msg() }))).rejects.toMatchObject({ code: 'DeviceNotFound' });
    const again = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId }) })).device!;
    expect((await messaging.receive({ key, generationId: again.generationId })).message).toBeUndefined();

    // rows of the old generation hold slots; the new generation's sends take them over
    for (let i = 0; i < 50; i++) await messaging.send({ key, message: msg({ messageId: `gen2-${i}` }) });
    await registry.deleteDevice({ hub, deviceId });
    const third = (await registry.putDevice({ hub, device: registryV1.Device.fromPartial({ deviceId }) })).device!;
    let got: string | undefined;
    for (let i = 0; i < 20 && got !== 'new'; i++) {
      await messaging.send({ key, message: msg({ messageId: 'new' }) });
      got = (await messaging.receive({ key, generationId: third.generationId })).message?.messageId;
      if (got !== 'new') await sleep(100);
    }
    expect(got).toBe('new');
  });

  it('validates hub settings (120, 121) and keeps defaults until changed', async () => {
    const { hub } = await setup();
    expect(JSON.parse((await messaging.getSettings({ hub })).cloudToDeviceJson)).toEqual({
      maxDeliveryCount: 10,
      defaultTtlAsIso8601: 'PT1H',
      feedback: { lockDurationAsIso8601: 'PT1M', ttlAsIso8601: 'PT1H', maxDeliveryCount: 100 },
    });
    for (const bad of [{ maxDeliveryCount: 0 }, { maxDeliveryCount: 101 }, { defaultTtlAsIso8601: 'PT59S' }, { defaultTtlAsIso8601: 'P2DT1S' }, { defaultTtlAsIso8601: 'soon' }, { feedback: { maxDeliveryCount: 0 } }, { colour: 1 }]) {
      await expect(messaging.updateSettings({ hub, cloudToDeviceJson: JSON.stringify(bad) })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    }
    const s = JSON.parse((await messaging.updateSettings({ hub, cloudToDeviceJson: '{"maxDeliveryCount":100,"defaultTtlAsIso8601":"P2D"}' })).cloudToDeviceJson) as Record<string, unknown>;
    expect(s).toMatchObject({ maxDeliveryCount: 100, defaultTtlAsIso8601: 'P2D' });
  });
});
