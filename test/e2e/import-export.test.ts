import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { Registry } from 'azure-iothub';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, uniqueName, type Azurite } from '@openiothub/testing';
import { ownerConnectionString, poll } from './helpers.js';
import { eventsSettled } from './routing.js';

// Bulk import/export (scenarios 4–5, seeds-protocols-ops §10) with Registry.importDevicesFromBlob /
// exportDevicesToBlob / getJob against Azurite: 10,000 devices with twins created by import,
// exported, deleted by import, and restored from the export.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const registry = () => Registry.fromConnectionString(ownerConnectionString());
const COUNT = 10_000;
let azurite: Azurite;
let service: BlobServiceClient;

beforeAll(async () => {
  azurite = await startAzurite();
  service = BlobServiceClient.fromConnectionString(azurite.connectionString);
});
afterAll(async () => {
  await azurite?.stop();
});

/** A container and its SAS URL with read, write, delete and list rights (what the docs ask for). */
async function container(name: string) {
  const client = service.getContainerClient(name);
  await client.createIfNotExists();
  const sas = generateBlobSASQueryParameters(
    { containerName: name, permissions: ContainerSASPermissions.parse('rwdl'), expiresOn: new Date(Date.now() + 3_600_000) },
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
  return { client, url: `${client.url}?${sas.toString()}` };
}

const upload = async (c: { client: ReturnType<BlobServiceClient['getContainerClient']> }, lines: Loose[]) => {
  const text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  await c.client.getBlockBlobClient('devices.txt').upload(text, Buffer.byteLength(text));
};
const download = async (c: { client: ReturnType<BlobServiceClient['getContainerClient']> }, blob: string) => (await c.client.getBlobClient(blob).downloadToBuffer()).toString('utf8');

async function finished(jobId: string): Promise<Loose> {
  return poll(async () => ((await registry().getJob(jobId)) as Loose), (j) => ['completed', 'failed', 'cancelled'].includes(j.status), 240_000, `job ${jobId}`);
}

describe('bulk import and export with azure-iothub (scenarios 4–5)', () => {
  it('imports 10,000 devices with twins, exports them, deletes them by import, and restores them from the export', async () => {
    const prefix = uniqueName('bulk');
    const ids = Array.from({ length: COUNT }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`);
    const key = (i: number, k: string) => Buffer.from(`${prefix}-${i}-${k}`.padEnd(32, '.')).toString('base64');
    const input = await container(`${prefix}-in`);
    const output = await container(`${prefix}-out`);

    await upload(
      input,
      ids.map((id, i) => ({
        id,
        importMode: 'create',
        status: i % 10 === 0 ? 'disabled' : 'enabled',
        authentication: { symmetricKey: { primaryKey: key(i, 'p'), secondaryKey: key(i, 's') } },
        tags: { fleet: prefix, shard: i % 7 },
        properties: { desired: { interval: i }, reported: { firmware: `1.${i % 3}` } },
      })),
    );
    const imported = ((await registry().importDevicesFromBlob(input.url, output.url)) as Loose);
    expect(imported).toMatchObject({ type: 'import', status: expect.stringMatching(/enqueued|running/) });
    expect(await finished(imported.jobId)).toMatchObject({ status: 'completed', progress: 100 });
    const sample = (await registry().get(ids[42]!)).responseBody;
    expect(sample.authentication?.symmetricKey).toEqual({ primaryKey: key(42, 'p'), secondaryKey: key(42, 's') });
    const sampleTwin = (await registry().getTwin(ids[42]!)).responseBody;
    expect(sampleTwin.tags).toEqual({ fleet: prefix, shard: 0 });
    expect(sampleTwin.properties.reported).toMatchObject({ firmware: '1.0' });

    const exported = ((await registry().exportDevicesToBlob(output.url, false)) as Loose);
    expect(await finished(exported.jobId)).toMatchObject({ status: 'completed', type: 'export' });
    const lines = (await download(output, 'devices.txt'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Loose)
      .filter((l) => String(l.id).startsWith(`${prefix}-`));
    expect(lines).toHaveLength(COUNT);
    const line42 = lines.find((l) => l.id === ids[42])!;
    expect(line42).toMatchObject({
      id: ids[42],
      eTag: expect.any(String),
      status: 'enabled',
      authentication: { symmetricKey: { primaryKey: key(42, 'p'), secondaryKey: key(42, 's') } },
      twinETag: expect.any(String),
      tags: { fleet: prefix, shard: 0 },
      properties: { desired: { interval: 42, $version: expect.any(Number), $metadata: expect.any(Object) }, reported: { firmware: '1.0', $metadata: expect.any(Object) } },
    });
    expect(lines.find((l) => l.id === ids[10])!.status).toBe('disabled');

    await upload(input, ids.map((id) => ({ id, importMode: 'delete' })));
    const deleted = ((await registry().importDevicesFromBlob(input.url, output.url)) as Loose);
    expect(await finished(deleted.jobId)).toMatchObject({ status: 'completed' });
    await expect(registry().get(ids[42]!)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });

    await upload(input, lines);
    const restored = ((await registry().importDevicesFromBlob(input.url, output.url)) as Loose);
    expect(await finished(restored.jobId)).toMatchObject({ status: 'completed' });
    for (const i of [0, 42, 9_999]) {
      expect((await registry().get(ids[i]!)).responseBody.authentication?.symmetricKey).toEqual({ primaryKey: key(i, 'p'), secondaryKey: key(i, 's') });
      const t = (await registry().getTwin(ids[i]!)).responseBody;
      expect(t.tags).toEqual({ fleet: prefix, shard: i % 7 });
      expect(t.properties.desired).toMatchObject({ interval: i });
      expect(t.properties.reported).toMatchObject({ firmware: `1.${i % 3}` });
    }
    expect((await registry().get(ids[10]!)).responseBody.status).toBe('disabled');

    // leave the hub as found: the 10,000 devices go (by import again), and routing catches up with their events
    await upload(input, ids.map((id) => ({ id, importMode: 'delete' })));
    const cleanup = (await registry().importDevicesFromBlob(input.url, output.url)) as Loose;
    expect(await finished(cleanup.jobId)).toMatchObject({ status: 'completed' });
    const started = Date.now();
    await eventsSettled();
    process.stderr.write(`routing caught up with the import's events ${Date.now() - started} ms after the last job\n`);
  }, 900_000);

  it('logs per-device failures to importErrors.log and carries on; excludes keys on request; lists and cancels jobs', async () => {
    const prefix = uniqueName('errs');
    const input = await container(`${prefix}-in`);
    const output = await container(`${prefix}-out`);
    await upload(input, [{ id: `${prefix}-a`, importMode: 'create' }, { id: `${prefix}-b`, importMode: 'create' }]);
    const first = ((await registry().importDevicesFromBlob(input.url, output.url)) as Loose);
    await finished(first.jobId);
    const etagA = (await registry().get(`${prefix}-a`)).responseBody.etag;
    await upload(input, [
      { id: `${prefix}-a`, importMode: 'create' },
      { id: `${prefix}-b`, importMode: 'updateIfMatchETag', eTag: 'bm9wZQ==' },
      { id: `${prefix}-a`.replace(/-a$/, '-c'), importMode: 'update' },
      'not json' as unknown as Loose,
      { id: `${prefix}-d`, importMode: 'createOrUpdate', status: 'disabled' },
      { id: `${prefix}-a`.replace(/-a$/, '-b'), importMode: 'deleteIfMatchETag', eTag: etagA },
    ]);
    const second = ((await registry().importDevicesFromBlob(input.url, output.url)) as Loose);
    expect(await finished(second.jobId)).toMatchObject({ status: 'completed' });
    const log = (await download(output, 'importErrors.log')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Loose);
    expect(log.map((e) => e.errorCode).sort()).toEqual(['BadFormat', 'DeviceAlreadyExists', 'DeviceNotFound', 'PreconditionFailed', 'PreconditionFailed']);
    expect((await registry().get(`${prefix}-d`)).responseBody.status).toBe('disabled');

    const exported = ((await registry().exportDevicesToBlob(output.url, true)) as Loose);
    await finished(exported.jobId);
    const line = (await download(output, 'devices.txt')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Loose).find((l) => l.id === `${prefix}-a`)!;
    expect(line.authentication.symmetricKey).toEqual({ primaryKey: null, secondaryKey: null });

    const listed = ((await registry().listJobs()).responseBody as Loose[]).map((j) => j.jobId);
    expect(listed).toEqual(expect.arrayContaining([first.jobId, second.jobId, exported.jobId]));
    const cancelled = ((await registry().cancelJob(exported.jobId)) as Loose);
    expect(cancelled.status).toBe('completed'); // a finished job stays finished
  });
});
