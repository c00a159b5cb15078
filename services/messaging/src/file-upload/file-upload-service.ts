import { randomUUID } from 'node:crypto';
import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import { withTransaction, type Pool } from '@openiothub/postgres';
import type { C2DStore } from '../store/c2d-store.js';
import { defaultFileUploadSettings, fileUploadFromJson, fileUploadToJson, type FileUploadSettings } from './settings.js';
import { BlobContainer } from '@openiothub/blob';

/** IoT Hub: at most 10 outstanding SAS URIs per device, 10,000 per storage account (devguide §8.4). */
export const MAX_OUTSTANDING_PER_DEVICE = 10;
export const MAX_OUTSTANDING_PER_HUB = 10_000;

export interface FileUploadStart {
  readonly correlationId: string;
  readonly hostName: string;
  readonly containerName: string;
  readonly blobName: string;
  readonly sasToken: string;
}

/** The file-upload notification the service receives (devguide §8.2). */
export interface FileUploadNotification {
  readonly deviceId: string;
  readonly blobUri: string;
  readonly blobName: string;
  readonly lastUpdatedTime: string;
  readonly blobSizeInBytes: number;
  readonly enqueuedTimeUtc: string;
}

/**
 * File upload (devguide §8): the hub hands a device a write-only SAS for `{deviceId}/{blobName}`
 * in the hub's storage container, counts it outstanding until the device reports the upload (or
 * the SAS expires), and on a successful report queues a file-upload notification.
 */
export class FileUploadService {
  readonly #containers = new Map<string, BlobContainer>();

  constructor(
    private readonly o: { pool: Pool; store: C2DStore; defaults: { connectionString: string; containerName: string }; notify: (hub: string) => void; ca?: string | undefined },
  ) {}

  async settings(hub: string): Promise<FileUploadSettings> {
    const base = defaultFileUploadSettings(this.o.defaults);
    const { rows } = await this.o.pool.query<{ doc: unknown }>('SELECT doc FROM messaging.file_upload_settings WHERE hub = $1', [hub]);
    return rows[0] ? fileUploadFromJson(rows[0].doc, base) : base;
  }

  async settingsJson(hub: string): Promise<Record<string, unknown>> {
    return fileUploadToJson(await this.settings(hub));
  }

  async updateSettings(hub: string, json: string): Promise<Record<string, unknown>> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new ArgumentInvalidError('The file upload settings are not valid JSON.');
    }
    const next = fileUploadFromJson(parsed, await this.settings(hub));
    const doc = fileUploadToJson(next);
    await this.o.pool.query('INSERT INTO messaging.file_upload_settings (hub, doc) VALUES ($1, $2) ON CONFLICT (hub) DO UPDATE SET doc = $2', [hub, JSON.stringify(doc)]);
    return doc;
  }

  #container(connectionString: string, name: string): BlobContainer {
    const key = `${connectionString}\n${name}`;
    let c = this.#containers.get(key);
    if (!c) this.#containers.set(key, (c = BlobContainer.fromConnectionString(connectionString, name, { ca: this.o.ca })));
    return c;
  }

  /** Step 1: a SAS for the device's blob; 403 past 10 outstanding uploads of the device. */
  async start(hub: string, deviceId: string, blobName: string): Promise<FileUploadStart> {
    if (typeof blobName !== 'string' || blobName.trim() === '' || blobName.length > 1000 || blobName.startsWith('/') || blobName.split('/').includes('..')) {
      throw new ArgumentInvalidError('blobName must be a relative blob name of 1-1000 characters (no leading /, no ..).');
    }
    const s = await this.settings(hub);
    if (!s.connectionString || !s.containerName) {
      throw new DomainError('InvalidOperation', 'File upload is not configured for this hub: associate a storage account (PUT /settings/fileUpload, or `iothub file-upload update`).');
    }
    const storage = this.#container(s.connectionString, s.containerName);
    await storage.ensure();
    const correlationId = randomUUID();
    const fullName = `${deviceId}/${blobName}`;
    const expiresOn = new Date(Date.now() + s.sasTtlMs);
    await withTransaction(this.o.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 17))', [`uploads:${hub}`]);
      const { rows } = await c.query<{ device: string; total: string }>(
        `SELECT count(*) FILTER (WHERE device_id = $2) AS device, count(*) AS total FROM messaging.file_uploads WHERE hub = $1 AND expires_at > now()`,
        [hub, deviceId],
      );
      if (Number(rows[0]!.device) >= MAX_OUTSTANDING_PER_DEVICE) {
        throw new DomainError('DeviceMaximumActiveFileUploadLimitExceeded', `Device ${deviceId} already has ${MAX_OUTSTANDING_PER_DEVICE} file uploads outstanding; report them (files/notifications) first.`);
      }
      if (Number(rows[0]!.total) >= MAX_OUTSTANDING_PER_HUB) throw new DomainError('IotHubQuotaExceeded', `The hub's storage account has ${MAX_OUTSTANDING_PER_HUB} file uploads outstanding.`);
      await c.query('INSERT INTO messaging.file_uploads (hub, correlation_id, device_id, blob_name, container_name, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        hub,
        correlationId,
        deviceId,
        fullName,
        s.containerName,
        expiresOn,
      ]);
    });
    return { correlationId, hostName: storage.hostName, containerName: s.containerName, blobName: fullName, sasToken: storage.writeSas(fullName, expiresOn) };
  }

  /** Step 3: the device reports the upload; a success queues the notification (when enabled). */
  async complete(hub: string, deviceId: string, correlationId: string, isSuccess: boolean): Promise<void> {
    const { rows } = await this.o.pool.query<{ blob_name: string; container_name: string }>(
      'DELETE FROM messaging.file_uploads WHERE hub = $1 AND correlation_id = $2 AND device_id = $3 RETURNING blob_name, container_name',
      [hub, correlationId, deviceId],
    );
    const upload = rows[0];
    if (!upload) throw new ArgumentInvalidError(`No file upload of device ${deviceId} has correlation id ${correlationId} (unknown, already reported, or expired).`);
    if (!isSuccess) return;
    const s = await this.settings(hub);
    if (!s.enableNotifications || !s.connectionString) return;
    const storage = this.#container(s.connectionString, upload.container_name);
    const props = await storage.properties(upload.blob_name);
    if (!props) throw new ArgumentInvalidError(`The upload was reported successful, but blob ${upload.blob_name} does not exist in container ${upload.container_name}.`);
    const notification: FileUploadNotification = {
      deviceId,
      blobUri: storage.blobUrl(upload.blob_name),
      blobName: upload.blob_name,
      lastUpdatedTime: props.lastModified.toISOString(),
      blobSizeInBytes: props.size,
      enqueuedTimeUtc: new Date().toISOString(),
    };
    await this.o.store.enqueueFileNotification(hub, notification, s.notificationTtlMs);
    this.o.notify(hub);
  }

  async receive(hub: string) {
    const s = await this.settings(hub);
    return this.o.store.lockFeedback(hub, randomUUID(), { lockMs: s.notificationLockMs, maxDeliveryCount: s.notificationMaxDeliveryCount }, 'file');
  }

  /** Forget uploads whose SAS expired without a report (they stop counting as outstanding anyway). */
  async sweep(): Promise<void> {
    await this.o.pool.query("DELETE FROM messaging.file_uploads WHERE expires_at < now() - interval '1 hour'");
  }
}
