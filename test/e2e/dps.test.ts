import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http } from 'azure-iot-device-http';
import { Registry } from 'azure-iothub';
import { generateSymmetricKey } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { collectTelemetry } from './devices.js';
import {
  connectionStringOf,
  groupDeviceKey,
  hubOf,
  ownerOf,
  provisioningService,
  registerDevice,
  registrationError,
  sendOne,
  twinIn,
  type ProvisioningTransportName,
} from './dps.js';
import { hub, iothub, poll } from './helpers.js';

/** Individual enrollment with a symmetric key; the service generates keys when none are given. */
async function individual(extra: Record<string, unknown> = {}) {
  const registrationId = uniqueName('reg');
  const primaryKey = generateSymmetricKey();
  const { responseBody } = await provisioningService().createOrUpdateIndividualEnrollment({
    registrationId,
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey, secondaryKey: generateSymmetricKey() } },
    ...extra,
  } as never);
  return { registrationId, primaryKey, enrollment: responseBody as unknown as Record<string, unknown> };
}

async function group(extra: Record<string, unknown> = {}) {
  const enrollmentGroupId = uniqueName('grp');
  const groupKey = generateSymmetricKey();
  await provisioningService().createOrUpdateEnrollmentGroup({
    enrollmentGroupId,
    attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: groupKey, secondaryKey: generateSymmetricKey() } },
    ...extra,
  } as never);
  return { enrollmentGroupId, groupKey };
}

describe.each(['Mqtt', 'MqttWs', 'Http'] as ProvisioningTransportName[])('provisioning over %s (azure-iot-provisioning-device)', (transport) => {
  it('registers an individual enrollment, creates the device with its initial twin, and the device sends telemetry to the assigned hub', async () => {
    const { registrationId, primaryKey } = await individual({ initialTwin: { tags: { plant: 'north' }, properties: { desired: { interval: 30 } } } });
    const r = await registerDevice(transport, registrationId, primaryKey);
    expect(r).toMatchObject({ registrationId, deviceId: registrationId, status: 'assigned', substatus: 'initialAssignment' });
    expect([hub().hostName, hub().secondHub.hostName]).toContain(r.assignedHub);
    const twin = await twinIn(r.assignedHub, r.deviceId);
    expect(twin['tags']).toEqual({ plant: 'north' });
    expect((twin['properties'] as { desired: Record<string, unknown> }).desired).toMatchObject({ interval: 30 });

    const telemetry = await collectTelemetry(hubOf(r.assignedHub));
    try {
      await sendOne(connectionStringOf(r, primaryKey), `hello from ${registrationId}`);
      const got = await telemetry.waitFor((m) => m.systemProperties['iothub-connection-device-id'] === registrationId);
      expect(Buffer.from(got.body).toString()).toBe(`hello from ${registrationId}`);
    } finally {
      await telemetry.stop();
    }
  });

  it('registers through a symmetric-key enrollment group with the derived key, and records the model id from the payload', async () => {
    const { enrollmentGroupId, groupKey } = await group();
    const registrationId = uniqueName('grpdev');
    const key = groupDeviceKey(groupKey, registrationId);
    const r = await registerDevice(transport, registrationId, key, { modelId: 'dtmi:com:example:Thermostat;1' });
    expect(r).toMatchObject({ deviceId: registrationId, status: 'assigned' });
    const twin = await twinIn(r.assignedHub, r.deviceId);
    expect(twin['modelId']).toBe('dtmi:com:example:Thermostat;1');
    // HTTPS telemetry with the DPS-derived credentials (seeds-central #62)
    await sendOne(connectionStringOf(r, key), 'over https', Http);
    const { responseBody } = await provisioningService().getDeviceRegistrationState(registrationId);
    expect(responseBody).toMatchObject({ registrationId, status: 'assigned', assignedHub: r.assignedHub, symmetricKey: { enrollmentGroupId } });
  });

  it('refuses a token signed with a wrong key, and an unknown ID scope alike (HTTP 401 → UnauthorizedError; MQTT CONNACK 5)', async () => {
    const { registrationId } = await individual();
    for (const idScope of [undefined, '0ne00000000']) {
      const err = await registrationError(transport, registrationId, generateSymmetricKey(), idScope);
      if (transport === 'Http') expect(err.name).toBe('UnauthorizedError');
      else expect(err.message).toMatch(/Not authorized/i);
    }
  });
});

describe('allocation across the linked hubs', () => {
  it('hashed: 1,000 registrations of a group spread evenly over two hubs (±10%), each device created where it was assigned', async () => {
    const { groupKey } = await group({ allocationPolicy: 'hashed' });
    const prefix = uniqueName('h');
    const ids = Array.from({ length: 1000 }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const counts = new Map<string, number>();
    const results: Array<{ id: string; hubHost: string }> = [];
    // the SDK over HTTPS, 50 registrations at a time
    for (let i = 0; i < ids.length; i += 50) {
      const batch = await Promise.all(ids.slice(i, i + 50).map((id) => registerDevice('Http', id, groupDeviceKey(groupKey, id))));
      for (const r of batch) {
        counts.set(r.assignedHub, (counts.get(r.assignedHub) ?? 0) + 1);
        results.push({ id: r.deviceId, hubHost: r.assignedHub });
      }
    }
    expect([...counts.keys()].sort()).toEqual([hub().hostName, hub().secondHub.hostName].sort());
    for (const n of counts.values()) expect(Math.abs(n - 500)).toBeLessThanOrEqual(50);
    // spot-check: the identity exists in the assigned hub and not in the other
    for (const { id, hubHost } of results.slice(0, 10)) {
      await expect(Registry.fromConnectionString(ownerOf(hubHost)).get(id)).resolves.toBeTruthy();
      const other = hubHost === hub().hostName ? hub().secondHub.hostName : hub().hostName;
      await expect(Registry.fromConnectionString(ownerOf(other)).get(id)).rejects.toMatchObject({ name: 'DeviceNotFoundError' });
    }
  }, 120_000);

  it('static: an enrollment naming one hub always lands there', async () => {
    const { enrollmentGroupId, groupKey } = await group({ allocationPolicy: 'static', iotHubs: [hub().secondHub.hostName] });
    for (let i = 0; i < 5; i += 1) {
      const id = uniqueName('static');
      const r = await registerDevice('Mqtt', id, groupDeviceKey(groupKey, id));
      expect(r.assignedHub).toBe(hub().secondHub.hostName);
    }
    expect(enrollmentGroupId).toBeTruthy();
  });

  describe('custom allocation webhook', () => {
    let server: Server;
    const requests: Array<Record<string, unknown>> = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          const body = JSON.parse(text) as Record<string, unknown>;
          requests.push(body);
          const ctx = body['deviceRuntimeContext'] as { payload?: { pick?: string } };
          const choice = ctx.payload?.pick === 'first' ? hub().hostName : hub().secondHub.hostName;
          res.writeHead(200, { 'content-type': 'application/json' }).end(
            JSON.stringify({ iotHubHostName: choice, initialTwin: { tags: { allocatedBy: 'webhook' }, properties: { desired: { mode: 'eco' } } }, payload: { welcome: `to ${choice}` } }),
          );
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('decides the hub from the device payload, sets the initial twin and returns its payload to the device', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/allocate`;
      const { enrollmentGroupId, groupKey } = await group({ allocationPolicy: 'custom', customAllocationDefinition: { webhookUrl: url, apiVersion: '2019-03-31' } });
      const id = uniqueName('custom');
      const r = await registerDevice('Mqtt', id, groupDeviceKey(groupKey, id), { pick: 'first', modelId: 'dtmi:com:example:Fan;1' });
      expect(r.assignedHub).toBe(hub().hostName);
      expect(r.payload).toEqual({ welcome: `to ${hub().hostName}` });
      const seen = requests.find((b) => (b['deviceRuntimeContext'] as { registrationId: string }).registrationId === id)!;
      expect(seen['deviceRuntimeContext']).toMatchObject({ registrationId: id, payload: { pick: 'first', modelId: 'dtmi:com:example:Fan;1' } });
      expect(seen['enrollmentGroup']).toMatchObject({ enrollmentGroupId, attestation: { type: 'symmetricKey', symmetricKey: {} } });
      expect(JSON.stringify(seen)).not.toContain(groupKey);
      expect([...(seen['linkedHubs'] as string[])].sort()).toEqual([hub().hostName, hub().secondHub.hostName].sort());
      const twin = await twinIn(r.assignedHub, id);
      expect(twin['tags']).toEqual({ allocatedBy: 'webhook' });
      expect(twin['modelId']).toBe('dtmi:com:example:Fan;1');

      const other = uniqueName('custom');
      expect((await registerDevice('Http', other, groupDeviceKey(groupKey, other), { pick: 'second' })).assignedHub).toBe(hub().secondHub.hostName);
    });
  });
});

describe('re-registration and the errors the SDK surfaces', () => {
  it('a disabled enrollment: the SDK fails with status "disabled"; enabling it again lets the device register', async () => {
    const { registrationId, primaryKey, enrollment } = await individual({ provisioningStatus: 'disabled' });
    const err = await registrationError('Mqtt', registrationId, primaryKey);
    expect(err.result?.status).toBe('disabled');
    expect(err.result?.registrationState?.errorMessage).toMatch(/disabled/);
    await provisioningService().createOrUpdateIndividualEnrollment({ ...enrollment, provisioningStatus: 'enabled' } as never);
    expect((await registerDevice('Mqtt', registrationId, primaryKey)).status).toBe('assigned');
  });

  it('a device an operator disabled in its hub: the hub refuses it, and DPS does not lift the block (registration failed)', async () => {
    const { registrationId, primaryKey } = await individual();
    const r = await registerDevice('Http', registrationId, primaryKey);
    const registry = Registry.fromConnectionString(ownerOf(r.assignedHub));
    const { responseBody: device } = await registry.get(r.deviceId);
    await registry.update({ ...device, status: 'disabled' } as never);
    await expect(sendOne(connectionStringOf(r, primaryKey), 'x')).rejects.toThrow();
    const err = await registrationError('Mqtt', registrationId, primaryKey);
    // azure-iot-common's DeviceRegistrationFailedError, whose name says "Provisioning…"
    expect(err.name).toBe('ProvisioningRegistrationFailedError');
    expect(err.result?.status).toBe('failed');
    expect(err.result?.registrationState?.errorMessage).toMatch(/disabled in IoT hub/);
    const { responseBody } = await provisioningService().getDeviceRegistrationState(registrationId);
    expect(responseBody).toMatchObject({ status: 'failed' });
  });

  it('deleting the enrollment blocks registration (401)', async () => {
    const { registrationId, primaryKey } = await individual();
    await registerDevice('Mqtt', registrationId, primaryKey);
    await provisioningService().deleteIndividualEnrollment(registrationId);
    expect((await registrationError('Http', registrationId, primaryKey)).name).toBe('UnauthorizedError');
  });

  it('reprovisioning moves the device with its twin when the enrollment is pinned to the other hub (migrate) or starts over (reset)', async () => {
    for (const migrate of [true, false]) {
      const { registrationId, primaryKey, enrollment } = await individual({
        allocationPolicy: 'static',
        iotHubs: [hub().hostName],
        initialTwin: { tags: { initial: true } },
        reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: migrate },
      });
      const first = await registerDevice('Mqtt', registrationId, primaryKey);
      expect(first.assignedHub).toBe(hub().hostName);
      await Registry.fromConnectionString(ownerOf(first.assignedHub)).updateTwin(registrationId, { tags: { set: 'before move' } } as never, '*');
      const { responseBody: current } = await provisioningService().getIndividualEnrollment(registrationId);
      await provisioningService().createOrUpdateIndividualEnrollment({ ...enrollment, ...current, iotHubs: [hub().secondHub.hostName] } as never);
      const second = await registerDevice('Mqtt', registrationId, primaryKey);
      expect(second).toMatchObject({ assignedHub: hub().secondHub.hostName, substatus: migrate ? 'deviceDataMigrated' : 'deviceDataReset' });
      const twin = await twinIn(second.assignedHub, registrationId);
      expect(twin['tags']).toEqual(migrate ? { initial: true, set: 'before move' } : { initial: true });
      // the old hub no longer knows the device: a cached connection string fails, the new one works
      await expect(sendOne(connectionStringOf(first, primaryKey), 'stale')).rejects.toThrow();
      await sendOne(connectionStringOf(second, primaryKey), 'fresh');
    }
  });
});

describe('manual failover (IoT Central `device manual-failover`)', () => {
  it('moves the device to the other hub, where it reconnects through DPS, and brings it back when the TTL ends', async () => {
    const { registrationId, primaryKey } = await individual();
    const first = await registerDevice('Mqtt', registrationId, primaryKey);
    await Registry.fromConnectionString(ownerOf(first.assignedHub)).updateTwin(registrationId, { tags: { keep: 'me' } } as never, '*');

    const out = await iothub('device', 'manual-failover', '--device-id', registrationId, '--ttl-minutes', '0.25');
    expect(out.code).toBe(0);
    const answer = out.json() as { hubIdentifier: string; message: string; hostName: string };
    expect(answer.hubIdentifier).toMatch(/\S/);
    expect(answer.message).toMatch(/^Success! This device is now being failed over/);
    expect(answer.hostName).not.toBe(first.assignedHub);
    // the old hub refuses the cached connection string
    await expect(sendOne(connectionStringOf(first, primaryKey), 'stale')).rejects.toThrow();
    // DPS re-registration returns the new hub; telemetry works there; the twin came along
    const moved = await registerDevice('Mqtt', registrationId, primaryKey);
    expect(moved.assignedHub).toBe(answer.hostName);
    await sendOne(connectionStringOf(moved, primaryKey), 'after failover');
    expect((await twinIn(moved.assignedHub, registrationId))['tags']).toEqual({ keep: 'me' });
    const info = (await iothub('device', 'registration-info', '--device-id', registrationId)).json() as { assignedHub: string; failover?: unknown };
    expect(info).toMatchObject({ assignedHub: answer.hostName, failover: { originalHub: hubOf(first.assignedHub) } });

    // the TTL (15 s) runs out: the device is back on its original hub, DPS says so
    await poll(() => provisioningService().getDeviceRegistrationState(registrationId).then((r) => r.responseBody as unknown as { assignedHub: string }), (r) => r.assignedHub === first.assignedHub, 30_000, 'failback after the TTL');
    const back = await registerDevice('Http', registrationId, primaryKey);
    expect(back).toMatchObject({ assignedHub: first.assignedHub, substatus: 'reprovisionedToInitialAssignment' });
    await sendOne(connectionStringOf(back, primaryKey), 'home again');
  }, 60_000);

  it('manual-failback ends a failover at once', async () => {
    const { registrationId, primaryKey } = await individual();
    const first = await registerDevice('Http', registrationId, primaryKey);
    expect((await iothub('device', 'manual-failover', '--device-id', registrationId, '--ttl-minutes', '60')).code).toBe(0);
    const back = await iothub('device', 'manual-failback', '--device-id', registrationId);
    expect(back.code).toBe(0);
    expect((back.json() as { hostName: string }).hostName).toBe(first.assignedHub);
    expect((await registerDevice('Mqtt', registrationId, primaryKey)).assignedHub).toBe(first.assignedHub);
  });
});
