import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlockBlobClient } from '@azure/storage-blob';
import { connectClient, messagingV1 } from '@openiothub/proto';
import { startAzurite, testContext, testUrls, uniqueName, type Azurite } from '@openiothub/testing';
import { createMessagingApp, loadMessagingConfig } from '../src/index.js';

// File upload in the messaging service (devguide §8, checklist I 137–150) against Azurite.
// (Azurite speaks HTTP here; the SDK path over HTTPS is proven in test/e2e/file-upload.test.ts.)

const urls = testUrls();
const ctx = testContext('file-upload-int');
let azurite: Azurite;
let messaging: ReturnType<typeof connectClient<messagingV1.MessagingServiceClient>>;
const { ServiceQueue, Outcome } = messagingV1;

beforeAll(async () => {
  azurite = await startAzurite();
  const app = await createMessagingApp(
    loadMessagingConfig({
      DATABASE_URL: urls.databaseUrl,
      NATS_URL: urls.natsUrl,
      REDIS_URL: urls.redisUrl,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: '0',
      REGISTRY_GRPC_URL: '127.0.0.1:1',
      FILE_UPLOAD_CONNECTION_STRING: azurite.connectionString,
      FILE_UPLOAD_CONTAINER: 'uploads',
    }),
    ctx,
  );
  messaging = connectClient(messagingV1.MessagingServiceClient, messagingV1.MessagingServiceService, `127.0.0.1:${app.grpcPort}`);
});
afterAll(async () => {
  messaging?.close();
  await ctx[Symbol.asyncDispose]();
  await azurite?.stop();
});

const upload = async (hub: string, deviceId: string, name: string, content: string) => {
  const s = await messaging.createFileUpload({ hub, deviceId, blobName: name });
  const scheme = azurite.blobEndpoint.split(':')[0];
  await new BlockBlobClient(`${scheme}://${s.hostName}/${s.containerName}/${s.blobName}${s.sasToken}`).upload(content, Buffer.byteLength(content));
  return s;
};
const receive = (hub: string) => messaging.receiveFeedback({ hub, queue: ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS });

describe('file upload', () => {
  it('hands out a SAS for {deviceId}/{blobName}, and a successful report queues the notification', async () => {
    const hub = uniqueName('fu');
    const s = await upload(hub, 'dev1', 'photo.jpg', 'jpeg bytes');
    expect(s).toMatchObject({ containerName: 'uploads', blobName: 'dev1/photo.jpg', sasToken: expect.stringMatching(/^\?.*sig=/) });
    expect(s.hostName).toBe(new URL(azurite.blobEndpoint).host + '/devstoreaccount1');
    expect((await receive(hub)).message).toBeUndefined();
    await messaging.completeFileUpload({ hub, deviceId: 'dev1', correlationId: s.correlationId, isSuccess: true, statusCode: 201, statusDescription: '' });
    const m = (await receive(hub)).message!;
    expect(JSON.parse(m.bodyJson)).toEqual({
      deviceId: 'dev1',
      blobUri: `${azurite.blobEndpoint}/uploads/dev1/photo.jpg`,
      blobName: 'dev1/photo.jpg',
      lastUpdatedTime: expect.any(String),
      blobSizeInBytes: 10,
      enqueuedTimeUtc: expect.any(String),
    });
    // locked: not handed out twice; abandon makes it visible again, complete removes it
    expect((await receive(hub)).message).toBeUndefined();
    await messaging.settleFeedback({ hub, lockToken: m.lockToken, outcome: Outcome.OUTCOME_ABANDON, queue: ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS });
    const again = (await receive(hub)).message!;
    expect(again.deliveryCount).toBe(2);
    await messaging.settleFeedback({ hub, lockToken: again.lockToken, outcome: Outcome.OUTCOME_COMPLETE, queue: ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS });
    expect((await receive(hub)).message).toBeUndefined();
    // the feedback queue of the hub is a separate queue
    expect((await messaging.receiveFeedback({ hub, queue: ServiceQueue.SERVICE_QUEUE_FEEDBACK })).message).toBeUndefined();
  });

  it('refuses unknown or repeated correlation ids, and queues nothing for a failed upload or with notifications off', async () => {
    const hub = uniqueName('fu');
    await expect(messaging.completeFileUpload({ hub, deviceId: 'dev1', correlationId: 'nope', isSuccess: true, statusCode: 201, statusDescription: '' })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    const failed = await upload(hub, 'dev1', 'a.txt', 'a');
    await messaging.completeFileUpload({ hub, deviceId: 'dev1', correlationId: failed.correlationId, isSuccess: false, statusCode: 500, statusDescription: 'broken' });
    await expect(messaging.completeFileUpload({ hub, deviceId: 'dev1', correlationId: failed.correlationId, isSuccess: true, statusCode: 201, statusDescription: '' })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    const other = await upload(hub, 'dev1', 'b.txt', 'b');
    await expect(messaging.completeFileUpload({ hub, deviceId: 'dev2', correlationId: other.correlationId, isSuccess: true, statusCode: 201, statusDescription: '' })).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    await messaging.updateFileUploadSettings({ hub, fileUploadJson: JSON.stringify({ enableFileUploadNotifications: false }) });
    await messaging.completeFileUpload({ hub, deviceId: 'dev1', correlationId: other.correlationId, isSuccess: true, statusCode: 201, statusDescription: '' });
    expect((await receive(hub)).message).toBeUndefined();
  });

  it('allows 10 outstanding uploads per device', async () => {
    const hub = uniqueName('fu');
    for (let i = 0; i < 10; i++) await messaging.createFileUpload({ hub, deviceId: 'busy', blobName: `f${i}` });
    await expect(messaging.createFileUpload({ hub, deviceId: 'busy', blobName: 'f10' })).rejects.toMatchObject({ code: 'DeviceMaximumActiveFileUploadLimitExceeded' });
    expect((await messaging.createFileUpload({ hub, deviceId: 'calm', blobName: 'f0' })).blobName).toBe('calm/f0');
  });

  it('validates the settings (checklist 145–146) and refuses uploads without storage', async () => {
    const hub = uniqueName('fu');
    const get = async () => JSON.parse((await messaging.getFileUploadSettings({ hub })).fileUploadJson) as Record<string, never>;
    expect(await get()).toMatchObject({
      enableFileUploadNotifications: true,
      storageEndpoints: { $default: { containerName: 'uploads', sasTtlAsIso8601: 'PT1H' } },
      messagingEndpoints: { fileNotifications: { lockDurationAsIso8601: 'PT1M', ttlAsIso8601: 'PT1H', maxDeliveryCount: 100 } },
    });
    const put = (doc: unknown) => messaging.updateFileUploadSettings({ hub, fileUploadJson: JSON.stringify(doc) });
    const notif = (f: Record<string, unknown>) => ({ messagingEndpoints: { fileNotifications: f } });
    for (const bad of [notif({ lockDurationAsIso8601: 'PT4S' }), notif({ lockDurationAsIso8601: 'PT301S' }), notif({ maxDeliveryCount: 0 }), notif({ maxDeliveryCount: 101 }), notif({ ttlAsIso8601: 'PT49H' }), notif({ ttlAsIso8601: 'PT59S' }), { storageEndpoints: { $default: { containerName: 'Bad_Name' } } }]) {
      await expect(put(bad)).rejects.toMatchObject({ code: 'ArgumentInvalid' });
    }
    await put(notif({ lockDurationAsIso8601: 'PT5S', maxDeliveryCount: 1, ttlAsIso8601: 'PT48H' }));
    expect((await get()).messagingEndpoints).toEqual({ fileNotifications: { lockDurationAsIso8601: 'PT5S', ttlAsIso8601: 'P2D', maxDeliveryCount: 1 } });
    await put({ storageEndpoints: { $default: { connectionString: '' } } });
    await expect(messaging.createFileUpload({ hub, deviceId: 'd', blobName: 'x' })).rejects.toMatchObject({ code: 'InvalidOperation' });
  });
});
