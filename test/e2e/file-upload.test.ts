import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, BlockBlobClient } from '@azure/storage-blob';
import { Client as DeviceClient } from 'azure-iot-device';
import { Http } from 'azure-iot-device-http';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Client as ServiceClient } from 'azure-iothub';
import { createDevice, identityToken } from './devices.js';
import { baseUrl, hub, iothub, ownerConnectionString, ownerToken, poll } from './helpers.js';

// File upload (devguide §8, scenario 21): the device SDK asks the hub for a SAS, uploads to the
// hub's storage (Azurite over HTTPS with the dev certificate, started by the local hub) and
// reports the result; the service receives the notification over AMQP and through the CLI.

interface FileNotification {
  deviceId: string;
  blobUri: string;
  blobName: string;
  lastUpdatedTime: string;
  blobSizeInBytes: number;
  enqueuedTimeUtc: string;
}
type ReceivedMessage = { data: Buffer };

const blobs = () => BlobServiceClient.fromConnectionString(hub().storageConnectionString);
let service: ServiceClient;
const notifications: FileNotification[] = [];

beforeAll(async () => {
  service = ServiceClient.fromConnectionString(ownerConnectionString());
  await service.open();
  const receiver = (await service.getFileNotificationReceiver()).result;
  receiver.on('message', (m: ReceivedMessage) => {
    notifications.push(JSON.parse(m.data.toString('utf8')) as FileNotification);
    void receiver.complete(m as never, () => undefined);
  });
});
afterAll(async () => {
  await service?.close();
});

async function notified(deviceId: string, blobName: string): Promise<FileNotification> {
  const found = await poll(async () => notifications.find((n) => n.deviceId === deviceId && n.blobName === blobName), (n) => n !== undefined, 15_000, 'file-upload notification');
  return found!;
}
async function blobText(container: string, name: string): Promise<string> {
  return (await blobs().getContainerClient(container).getBlobClient(name).downloadToBuffer()).toString('utf8');
}

describe('file upload with azure-iot-device (scenario 21)', () => {
  it('uploadToBlob over Mqtt: the blob lands under {deviceId}/, the service gets the notification over AMQP', async () => {
    const d = await createDevice('upload');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    try {
      const content = 'temperature,21.5\n'.repeat(1000);
      await client.uploadToBlob('logs/today.csv', Readable.from([Buffer.from(content)]), Buffer.byteLength(content));
      const n = await notified(d.deviceId, `${d.deviceId}/logs/today.csv`);
      expect(n).toMatchObject({ deviceId: d.deviceId, blobSizeInBytes: Buffer.byteLength(content), blobUri: expect.stringMatching(new RegExp(`/${d.deviceId}/logs/today\\.csv$`)) });
      expect(new Date(n.enqueuedTimeUtc).getTime()).toBeGreaterThan(Date.now() - 60_000);
      const container = (await (await fetch(`${baseUrl()}/settings/fileUpload?api-version=2021-04-12`, { headers: { authorization: ownerToken() } })).json()) as { storageEndpoints: { $default: { containerName: string } } };
      expect(await blobText(container.storageEndpoints.$default.containerName, n.blobName)).toBe(content);
    } finally {
      await client.close();
    }
  });

  it('over Http: getBlobSharedAccessSignature, own upload, notifyBlobUploadStatus; the SAS writes only that blob', async () => {
    const d = await createDevice('uploadhttp');
    const other = await createDevice('other');
    const client = DeviceClient.fromConnectionString(d.connectionString, Http);
    const sas = await client.getBlobSharedAccessSignature('report.json');
    expect(sas).toMatchObject({ correlationId: expect.any(String), hostName: expect.any(String), containerName: expect.any(String), blobName: `${d.deviceId}/report.json`, sasToken: expect.stringMatching(/^\?/) });
    const url = `https://${sas.hostName}/${sas.containerName}/${sas.blobName}${sas.sasToken}`;
    await new BlockBlobClient(url).upload('{"ok":true}', 11);
    // the same SAS cannot write another device's path
    const elsewhere = `https://${sas.hostName}/${sas.containerName}/${other.deviceId}/report.json${sas.sasToken}`;
    await expect(new BlockBlobClient(elsewhere).upload('x', 1)).rejects.toMatchObject({ statusCode: 403 });
    await client.notifyBlobUploadStatus(sas.correlationId, true, 201, 'uploaded');
    expect((await notified(d.deviceId, `${d.deviceId}/report.json`)).blobSizeInBytes).toBe(11);
    // reported once: the correlation id is gone
    await expect(client.notifyBlobUploadStatus(sas.correlationId, true, 201, 'again')).rejects.toBeDefined();
  });

  it('refuses an 11th outstanding upload of a device, and an upload for another device', async () => {
    const d = await createDevice('busy');
    const other = await createDevice('victim');
    const client = DeviceClient.fromConnectionString(d.connectionString, Http);
    const started = [];
    for (let i = 0; i < 10; i++) started.push(await client.getBlobSharedAccessSignature(`f${i}.bin`));
    await expect(client.getBlobSharedAccessSignature('f10.bin')).rejects.toMatchObject({ responseBody: expect.stringContaining('DeviceMaximumActiveFileUploadLimitExceeded') });
    // a failed upload reported ends it, and frees a slot (no notification for a failure)
    await client.notifyBlobUploadStatus(started[0]!.correlationId, false, 500, 'disk full');
    expect((await client.getBlobSharedAccessSignature('f10.bin')).blobName).toBe(`${d.deviceId}/f10.bin`);
    const res = await fetch(`${baseUrl()}/devices/${other.deviceId}/files?api-version=2021-04-12`, {
      method: 'POST',
      headers: { authorization: identityToken(d), 'content-type': 'application/json' },
      body: JSON.stringify({ blobName: 'steal.txt' }),
    });
    expect(res.status).toBe(401);
    const unknown = await fetch(`${baseUrl()}/devices/${d.deviceId}/files/notifications?api-version=2021-04-12`, {
      method: 'POST',
      headers: { authorization: identityToken(d), 'content-type': 'application/json' },
      body: JSON.stringify({ correlationId: 'no-such-upload', isSuccess: true, statusCode: 201, statusDescription: '' }),
    });
    expect(unknown.status).toBe(400);
    expect(notifications.some((n) => n.blobName === `${d.deviceId}/f0.bin`)).toBe(false);
  });

  it('iothub monitor-file-notifications prints the notification of an upload', async () => {
    // the AMQP receiver of this file takes notifications too: close it so the CLI sees this one
    await service.close();
    const d = await createDevice('cliupload');
    const client = DeviceClient.fromConnectionString(d.connectionString, Http);
    await client.uploadToBlob('cli.txt', Readable.from([Buffer.from('hello')]), 5);
    const out = await iothub('monitor-file-notifications', '-d', d.deviceId, '--max', '1', '-t', '20');
    expect(out.code).toBe(0);
    expect(out.json()).toMatchObject({ deviceId: d.deviceId, blobName: `${d.deviceId}/cli.txt`, blobSizeInBytes: 5 });
  });
});
