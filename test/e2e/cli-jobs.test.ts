import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } from '@azure/storage-blob';
import { Registry } from 'azure-iothub';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, uniqueName, type Azurite } from '@openiothub/testing';
import { iothub, ownerConnectionString, poll } from './helpers.js';

// The operator CLI for queries, jobs, configurations and import/export (scenarios 17, 19, 4–5).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const registry = () => Registry.fromConnectionString(ownerConnectionString());
let azurite: Azurite;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

async function fleet(prefix: string, n: number, state: string) {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await registry().addDevices(ids.map((deviceId) => ({ deviceId, status: 'enabled' as const })));
  await Promise.all(ids.map((id) => registry().updateTwin(id, { tags: { fleet: prefix, location: { state } } }, '*')));
  return ids;
}

describe('iothub CLI: query, job, configuration, import/export', () => {
  it('queries twins and runs a twin-update job to completion with a progress bar', async () => {
    const prefix = uniqueName('clijob');
    const ids = await fleet(prefix, 3, 'Washington');
    const q = await iothub('query', '-q', `SELECT deviceId FROM devices WHERE tags.fleet = '${prefix}'`);
    expect(q.json()).toEqual(ids.map((deviceId) => ({ deviceId })));
    const top = await iothub('query', '-q', `SELECT * FROM devices WHERE tags.fleet = '${prefix}'`, '--top', '2');
    expect((top.json() as Loose[]).map((t) => t.deviceId)).toEqual(ids.slice(0, 2));

    const jobId = uniqueName('job');
    const run = await iothub('job', 'create', '--job-id', jobId, '--jt', 'scheduleUpdateTwin', '-q', `tags.fleet = '${prefix}'`, '--twin-patch', '{"properties":{"desired":{"interval":7}}}', '--wait', '--poll-interval', '0.2');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ jobId, status: 'completed', deviceJobStatistics: { deviceCount: 3, succeededCount: 3 } });
    expect(run.err).toMatch(/\[█+\] 100% completed/);
    expect(((await registry().getTwin(ids[1]!)).responseBody.properties.desired as Loose)['interval']).toBe(7);
    expect((await iothub('job', 'show', '--job-id', jobId)).json()).toMatchObject({ status: 'completed' });
    const listed = (await iothub('job', 'list', '--jt', 'scheduleUpdateTwin', '--js', 'completed')).json() as Loose[];
    expect(listed.map((j) => j.jobId)).toContain(jobId);
    const records = (await iothub('query', '-q', `SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '${jobId}'`)).json() as Loose[];
    expect(records.map((r) => r.deviceId).sort()).toEqual([...ids].sort());

    const later = uniqueName('later');
    await iothub('job', 'create', '--job-id', later, '--jt', 'scheduleDeviceMethod', '-q', `tags.fleet = '${prefix}'`, '--mn', 'reboot', '--start', new Date(Date.now() + 3_600_000).toISOString());
    expect((await iothub('job', 'cancel', '--job-id', later)).json()).toMatchObject({ status: 'cancelled' });
    const bad = await iothub('job', 'create', '--job-id', uniqueName('bad'), '--jt', 'scheduleDeviceMethod', '-q', 'deviceId =', '--mn', 'reboot');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('ArgumentInvalid');
  });

  it('manages a configuration through create, show, update, show-metric and delete (scenario 19)', async () => {
    const prefix = uniqueName('clicfg');
    const [wa] = await fleet(`${prefix}-wa`, 1, `${prefix}-Washington`);
    const [or] = await fleet(`${prefix}-or`, 1, `${prefix}-Oregon`);
    const id = uniqueName('chillersettingswashington');
    const created = await iothub(
      'configuration', 'create', '-c', id,
      '--content', '{"content":{"deviceContent":{"properties.desired.chillerWaterSettings":{"temperature":38,"pressure":78}}}}',
      '-t', `tags.location.state='${prefix}-Washington'`, '--pri', '10', '--lab', '{"HostPlatform":"Linux"}',
      '-m', `{"queries":{"Compliant":"select deviceId from devices where configurations.[[${id}]].status = 'Applied'"}}`,
    );
    expect(created.code).toBe(0);
    const desired = async (deviceId: string) => ((await registry().getTwin(deviceId)).responseBody.properties.desired as Loose)['chillerWaterSettings'];
    await poll(() => desired(wa!), (v) => v?.temperature === 38, 10_000, 'configuration applied');
    expect((await iothub('configuration', 'show', '-c', id)).json()).toMatchObject({ systemMetrics: { results: { targetedCount: 1, appliedCount: 1 } }, metrics: { results: { Compliant: 1 } } });
    expect((await iothub('configuration', 'show-metric', '-c', id, '--metric-id', 'appliedCount', '--metric-type', 'system')).json()).toMatchObject({ result: [{ deviceId: wa }] });
    expect((await iothub('configuration', 'list')).json()).toEqual(expect.arrayContaining([expect.objectContaining({ id })]));

    const updated = await iothub('configuration', 'update', '-c', id, '--set', `targetCondition=tags.location.state='${prefix}-Oregon'`, 'priority=20');
    expect(updated.json()).toMatchObject({ priority: 20 });
    await poll(async () => [await desired(wa!), await desired(or!)], ([w, o]) => w === undefined && o?.temperature === 38, 10_000, 'target moved');
    expect((await iothub('configuration', 'update', '-c', id, '--set', 'content={}')).err).toContain('cannot be updated');
    expect((await iothub('configuration', 'delete', '-c', id)).code).toBe(0);
    expect((await iothub('configuration', 'show', '-c', id)).err).toContain('NotFound');
  });

  it('exports and imports identities through blob containers', async () => {
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const name = uniqueName('cliexp');
    const containerClient = service.getContainerClient(name);
    await containerClient.create();
    const sas = generateBlobSASQueryParameters({ containerName: name, permissions: ContainerSASPermissions.parse('rwdl'), expiresOn: new Date(Date.now() + 3_600_000) }, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY));
    const url = `${containerClient.url}?${sas.toString()}`;
    const [id] = await fleet(name, 1, 'Nowhere');
    const exported = await iothub('device-identity', 'export', '--bcu', url);
    expect(exported.json()).toMatchObject({ type: 'export', status: 'completed', progress: 100 });
    const lines = (await containerClient.getBlobClient('devices.txt').downloadToBuffer()).toString('utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Loose);
    expect(lines.find((l) => l.id === id)).toMatchObject({ tags: { fleet: name }, authentication: { symmetricKey: { primaryKey: null } } });

    const text = `${JSON.stringify({ id, importMode: 'delete' })}\n`;
    await containerClient.getBlockBlobClient('devices.txt').upload(text, text.length);
    const imported = await iothub('device-identity', 'import', '--ibcu', url, '--obcu', url);
    expect(imported.json()).toMatchObject({ type: 'import', status: 'completed' });
    await expect(registry().get(id!)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
  });
});
