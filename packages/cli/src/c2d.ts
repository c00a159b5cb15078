import { Option, type Command } from 'commander';
import { restPath as path, type HubRestClient } from './rest-client.js';

/** Options of `iothub c2d-message send` (as `az iot device c2d-message send`). */
export interface C2DSendOptions {
  readonly deviceId: string;
  readonly moduleId?: string | undefined;
  readonly inputName?: string | undefined;
  readonly data: string;
  /** `a=1;b=2` (az's format) */
  readonly props?: string | undefined;
  readonly ack?: string | undefined;
  readonly messageId?: string | undefined;
  readonly correlationId?: string | undefined;
  readonly userId?: string | undefined;
  readonly contentType?: string | undefined;
  readonly contentEncoding?: string | undefined;
  /** Milliseconds since the epoch (az's `--expiry`). */
  readonly expiry?: string | undefined;
}

/** Parse az-style properties `k1=v1;k2=v2`. */
export function parseProps(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(';')) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`A property must look like key=value: "${pair}".`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return out;
}

/** Send one C2D message through the service REST endpoint; resolves `{messageId, sequenceNumber}`. */
export async function sendC2D(client: HubRestClient, o: C2DSendOptions): Promise<unknown> {
  const headers: Record<string, string> = {};
  const set = (name: string, v: string | undefined) => {
    if (v !== undefined && v !== '') headers[name] = v;
  };
  set('iothub-messageid', o.messageId);
  set('iothub-correlationid', o.correlationId);
  set('iothub-userid', o.userId);
  set('iothub-ack', o.ack);
  set('iothub-contenttype', o.contentType);
  set('iothub-contentencoding', o.contentEncoding);
  set('iothub-inputname', o.inputName);
  if (o.expiry !== undefined) {
    const ms = Number(o.expiry);
    if (!Number.isFinite(ms)) throw new Error('--expiry is milliseconds since the epoch.');
    headers['iothub-expiry'] = new Date(ms).toISOString();
  }
  for (const [k, v] of Object.entries(parseProps(o.props))) headers[`iothub-app-${k}`] = v;
  const target = o.moduleId ? path('devices', o.deviceId, 'modules', o.moduleId, 'messages', 'devicebound') : path('devices', o.deviceId, 'messages', 'devicebound');
  const res = await client.request('POST', target, Buffer.from(o.data, 'utf8'), headers);
  return JSON.parse(res.body.toString('utf8')) as unknown;
}

/** Options of `iothub monitor-feedback`. */
export interface FeedbackOptions {
  readonly deviceId?: string | undefined;
  /** Stop once feedback about this message id arrived (az's `--wait-on-msg`). */
  readonly waitOnMessageId?: string | undefined;
  readonly timeoutSeconds: number;
  readonly pollMs?: number;
  readonly signal?: AbortSignal | undefined;
  /** Which service-bound queue: C2D feedback (default) or file-upload notifications. */
  readonly queue?: 'feedback' | 'filenotifications';
}

/**
 * Read the hub's feedback queue (or its file-upload notifications), print each record (of one device, if asked), complete each
 * feedback message once printed. Resolves on `waitOnMessageId`, timeout or abort.
 */
export async function monitorFeedback(client: HubRestClient, o: FeedbackOptions, print: (record: unknown) => void): Promise<void> {
  const deadline = o.timeoutSeconds > 0 ? Date.now() + o.timeoutSeconds * 1000 : Infinity;
  while (!o.signal?.aborted && Date.now() < deadline) {
    const queue = o.queue ?? 'feedback';
    const res = await client.request('GET', `/messages/serviceBound/${queue}`);
    if (res.status === 204) {
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
      continue;
    }
    const parsed = JSON.parse(res.body.toString('utf8')) as unknown;
    // feedback messages hold an array of records; a file notification is one object
    const records = (Array.isArray(parsed) ? parsed : [parsed]) as Array<{ deviceId?: string; originalMessageId?: string }>;
    let seen = false;
    for (const r of records) {
      if (o.deviceId && r.deviceId !== o.deviceId) continue;
      print(r);
      if (o.waitOnMessageId && r.originalMessageId === o.waitOnMessageId) seen = true;
    }
    const lock = String(res.headers.etag ?? '').replace(/^"|"$/g, '');
    await client.request('DELETE', path('messages', 'serviceBound', queue, lock));
    if (seen) return;
  }
}

/** `iothub c2d-message send|purge`, `iothub monitor-feedback`, `iothub monitor-file-notifications`, `iothub file-upload show|update` (after `az iot device c2d-message`, `az iot hub monitor-feedback`). */
export function addC2DCommands(program: Command, rest: () => HubRestClient, print: (v: unknown) => void, io: { err(text: string): void; signal?: AbortSignal | undefined }): void {
  const c2d = program.command('c2d-message').description('cloud-to-device messages');
  c2d
    .command('send')
    .description('queue a message for a device (or a module input)')
    .requiredOption('-d, --device-id <id>')
    .option('-m, --module-id <id>', 'a module (then --input-name is required)')
    .option('--input-name <name>', 'module input the message goes to')
    .option('--data <text>', 'message body', 'Ping from Open IoT Hub CLI')
    .option('--props <props>', 'application properties, key=value pairs separated by ;')
    .addOption(new Option('--ack <mode>', 'feedback to ask for').choices(['positive', 'negative', 'full']))
    .option('--mid, --message-id <id>')
    .option('--cid, --correlation-id <id>')
    .option('--uid, --user-id <id>')
    .option('--ct, --content-type <type>')
    .option('--ce, --content-encoding <encoding>')
    .option('--expiry <ms>', 'expiry time, milliseconds since the epoch')
    .action(async (o) => print(await sendC2D(rest(), o)));
  c2d
    .command('purge')
    .description('delete every message waiting for a device')
    .requiredOption('-d, --device-id <id>')
    .action(async (o) => print(await rest().send('DELETE', path('devices', o.deviceId, 'commands'))));

  program
    .command('monitor-feedback')
    .description('print C2D feedback records as they arrive (and complete them)')
    .option('-d, --device-id <id>', 'only records of this device')
    .option('-w, --wait-on-msg <messageId>', 'stop once feedback about this message arrived')
    .option('-t, --timeout <seconds>', 'stop after this many seconds (0: never)', '0')
    .action(async (o) => {
      io.err('Watching C2D feedback. Ctrl+C stops.\n');
      await monitorFeedback(rest(), { deviceId: o.deviceId, waitOnMessageId: o.waitOnMsg, timeoutSeconds: Number(o.timeout), signal: io.signal }, print);
    });

  program
    .command('monitor-file-notifications')
    .description('print file-upload notifications as they arrive (and complete them)')
    .option('-d, --device-id <id>', 'only notifications of this device')
    .option('--max <n>', 'stop after n notifications (0: never)', '0')
    .option('-t, --timeout <seconds>', 'stop after this many seconds (0: never)', '0')
    .action(async (o) => {
      io.err('Watching file-upload notifications. Ctrl+C stops.\n');
      const max = Number(o.max);
      let seen = 0;
      const stop = new AbortController();
      io.signal?.addEventListener('abort', () => stop.abort());
      await monitorFeedback(rest(), { deviceId: o.deviceId, timeoutSeconds: Number(o.timeout), signal: stop.signal, queue: 'filenotifications' }, (n) => {
        print(n);
        if (max > 0 && ++seen >= max) stop.abort();
      });
    });

  const fileUpload = program.command('file-upload').description("the hub's file upload settings (storage container, SAS lifetime, notifications)");
  fileUpload.command('show').action(async () => print(await rest().send('GET', '/settings/fileUpload')));
  fileUpload
    .command('update')
    .option('--fcs, --fileupload-storage-connectionstring <cs>', 'Azure Storage connection string')
    .option('--fc, --fileupload-storage-container-name <name>')
    .option('--fsttl, --fileupload-sas-ttl <hours>', 'SAS lifetime in hours (1-24)')
    .addOption(new Option('--fn, --fileupload-notifications <bool>', 'queue a notification for each upload').choices(['true', 'false']))
    .option('--fnt, --fileupload-notification-ttl <hours>', 'notification TTL in hours (1-48)')
    .option('--fnld, --fileupload-notification-lock-duration <seconds>', 'notification lock, 5-300 s')
    .option('--fnd, --fileupload-notification-max-delivery-count <n>', '1-100')
    .action(async (o) => {
      const storage: Record<string, unknown> = {};
      if (o.fileuploadStorageConnectionstring !== undefined) storage['connectionString'] = o.fileuploadStorageConnectionstring;
      if (o.fileuploadStorageContainerName !== undefined) storage['containerName'] = o.fileuploadStorageContainerName;
      if (o.fileuploadSasTtl !== undefined) storage['sasTtlAsIso8601'] = `PT${Number(o.fileuploadSasTtl)}H`;
      const notifications: Record<string, unknown> = {};
      if (o.fileuploadNotificationTtl !== undefined) notifications['ttlAsIso8601'] = `PT${Number(o.fileuploadNotificationTtl)}H`;
      if (o.fileuploadNotificationLockDuration !== undefined) notifications['lockDurationAsIso8601'] = `PT${Number(o.fileuploadNotificationLockDuration)}S`;
      if (o.fileuploadNotificationMaxDeliveryCount !== undefined) notifications['maxDeliveryCount'] = Number(o.fileuploadNotificationMaxDeliveryCount);
      const body: Record<string, unknown> = { storageEndpoints: { $default: storage }, messagingEndpoints: { fileNotifications: notifications } };
      if (o.fileuploadNotifications !== undefined) body['enableFileUploadNotifications'] = o.fileuploadNotifications === 'true';
      print(await rest().send('PUT', '/settings/fileUpload', body));
    });
}
