import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { createSasToken, generateSymmetricKey, parseConnectionString } from '@openiothub/auth';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { groupDeviceKey, ownerOf, provisioningService, registerDevice, registrationToken } from './dps.js';
import { curl, hub, iothub } from './helpers.js';

async function enrollment() {
  const registrationId = uniqueName('raw');
  const primaryKey = generateSymmetricKey();
  await provisioningService().createOrUpdateIndividualEnrollment({ registrationId, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey } } } as never);
  return { registrationId, primaryKey };
}

/** A plain mqtt.js client speaking the DPS topics (sdk-compat §9.1). */
async function dpsClient(registrationId: string, password: string, clientId = registrationId) {
  const client = await mqtt.connectAsync(`mqtts://${hub().dps.provisioningHost}:${hub().ports.mqtt}`, {
    protocolVersion: 4,
    clientId,
    username: `${hub().dps.idScope}/registrations/${registrationId}/api-version=2019-03-31&ClientVersion=raw-test`,
    password,
    clean: true,
    reconnectPeriod: 0,
    ca: readFileSync(hub().caCertPath),
  });
  const answers: Array<{ topic: string; body: Record<string, unknown> }> = [];
  client.on('message', (topic, payload) => answers.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> }));
  const answer = async (rid: string, ms = 5_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = answers.find((a) => a.topic.includes(`$rid=${rid}`));
      if (hit) return hit;
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { client, answer };
}

describe('DPS over plain MQTT', () => {
  it('register → 202 assigning with retry-after → poll → 200 assigned, on the topics and bodies the SDK parses', async () => {
    const { registrationId, primaryKey } = await enrollment();
    const { client, answer } = await dpsClient(registrationId, registrationToken(registrationId, primaryKey));
    try {
      const granted = await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      expect(granted.map((g) => g.qos)).toEqual([1]);
      // a hub topic is not granted to a provisioning client (SUBACK 0x80)
      await expect(client.subscribeAsync(`devices/${registrationId}/messages/devicebound/#`, { qos: 1 })).rejects.toThrow(/Subscribe error/);
      await client.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId }), { qos: 1 });
      const first = await answer('1');
      expect(first?.topic).toMatch(/^\$dps\/registrations\/res\/202\/\?\$rid=1&retry-after=1$/);
      expect(first?.body).toMatchObject({ status: 'assigning', operationId: expect.any(String) });
      await client.publishAsync(`$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=${String(first!.body['operationId'])}`, ' ', { qos: 1 });
      const done = await answer('2');
      expect(done?.topic).toMatch(/^\$dps\/registrations\/res\/200\/\?\$rid=2/);
      expect(done?.body).toMatchObject({ operationId: first!.body['operationId'], status: 'assigned', registrationState: { registrationId, deviceId: registrationId, status: 'assigned' } });

      // errors answer on res/{status} with the DPS error body; the connection stays up
      await client.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=3', JSON.stringify({ registrationId: 'someone-else' }), { qos: 1 });
      expect(await answer('3')).toMatchObject({ topic: expect.stringMatching(/res\/400\//), body: { errorCode: 400004, message: expect.stringMatching(/differs/), trackingId: expect.any(String) } });
      await client.publishAsync('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=4&operationId=4.nope', ' ', { qos: 1 });
      expect(await answer('4')).toMatchObject({ topic: expect.stringMatching(/res\/404\//), body: { errorCode: 404000 } });

      // no subscription, no answer
      await client.unsubscribeAsync('$dps/registrations/res/#');
      await client.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=5', JSON.stringify({ registrationId }), { qos: 1 });
      expect(await answer('5', 1_500)).toBeUndefined();

      // anything but the DPS request topics ends the connection
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.publish(`devices/${registrationId}/messages/events/`, 'telemetry?', { qos: 0 });
      await closed;
    } finally {
      await client.endAsync(true);
    }
  });

  it('refuses a ClientId other than the registration id (CONNACK 2) and a wrong key (CONNACK 5)', async () => {
    const { registrationId, primaryKey } = await enrollment();
    await expect(dpsClient(registrationId, registrationToken(registrationId, primaryKey), 'not-the-id')).rejects.toMatchObject({ code: 2 });
    await expect(dpsClient(registrationId, registrationToken(registrationId, generateSymmetricKey()))).rejects.toMatchObject({ code: 5 });
    await expect(dpsClient(registrationId, registrationToken(registrationId, primaryKey, '0ne00000000'))).rejects.toMatchObject({ code: 5 });
  });
});

describe('DPS over plain HTTPS (curl)', () => {
  const base = () => `https://${hub().dps.provisioningHost}${hub().ports.https === 443 ? '' : `:${hub().ports.https}`}`;

  it('register answers 202 with a retry-after header; the operation answers 200; both need the device token', async () => {
    const { registrationId, primaryKey } = await enrollment();
    const url = `${base()}/${hub().dps.idScope}/registrations/${registrationId}`;
    const token = registrationToken(registrationId, primaryKey);
    const anon = await curl(['-X', 'PUT', '-H', 'content-type: application/json', '--data', JSON.stringify({ registrationId }), `${url}/register?api-version=2019-03-31`]);
    expect(anon.status).toBe(401);
    expect(JSON.parse(anon.body)).toMatchObject({ errorCode: 401002, message: expect.any(String), trackingId: expect.any(String), timestampUtc: expect.any(String) });
    const reg = await curl(['-X', 'PUT', '-H', 'content-type: application/json', '-H', `authorization: ${token}`, '--data', JSON.stringify({ registrationId }), `${url}/register?api-version=2019-03-31`]);
    expect(reg.status).toBe(202);
    expect(reg.headers).toMatch(/^retry-after: 1\r?$/im);
    const { operationId } = JSON.parse(reg.body) as { operationId: string };
    const op = await curl(['-H', `authorization: ${token}`, `${url}/operations/${operationId}?api-version=2019-03-31`]);
    expect(op.status).toBe(200);
    expect(JSON.parse(op.body)).toMatchObject({ status: 'assigned', registrationState: { registrationId } });
    expect((await curl([`${url}/operations/${operationId}?api-version=2019-03-31`])).status).toBe(401);
    const broken = await curl(['-X', 'PUT', '-H', `authorization: ${token}`, '--data', '{not json', `${url}/register?api-version=2019-03-31`]);
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body)).toMatchObject({ errorCode: 400004 });
  });

  it('the service API wants a token of this provisioning service: none, a hub token or a forged one get 401', async () => {
    const path = `${base()}/enrollments/${uniqueName('x')}?api-version=2021-10-01`;
    expect((await curl([path])).status).toBe(401);
    const { ownerToken } = await import('./helpers.js');
    const hubToken = await curl(['-H', `authorization: ${ownerToken()}`, path]);
    expect(hubToken.status).toBe(401);
    expect(JSON.parse(hubToken.body)).toMatchObject({ errorCode: 401002 });
    const forged = createSasToken({ resourceUri: hub().dps.provisioningHost, key: generateSymmetricKey(), keyName: 'provisioningserviceowner', expiry: Math.floor(Date.now() / 1000) + 600, encode: false });
    expect((await curl(['-H', `authorization: ${forged}`, path])).status).toBe(401);
    const good = createSasToken({ resourceUri: hub().dps.provisioningHost, key: parseConnectionString(hub().dps.connectionString)['SharedAccessKey']!, keyName: 'provisioningserviceowner', expiry: Math.floor(Date.now() / 1000) + 600, encode: false });
    expect((await curl(['-H', `authorization: ${good}`, path])).status).toBe(404);
  });
});

describe('DPS service API through azure-iot-provisioning-service', () => {
  it('queries enrollments page by page, reads the attestation, and refuses a stale etag (412)', async () => {
    const service = provisioningService();
    const made = await Promise.all([0, 1, 2].map(() => enrollment()));
    const seen: string[] = [];
    const query = service.createIndividualEnrollmentQuery({ query: '*' }, 2);
    let pages = 0;
    while (query.hasMoreResults) {
      // with promises the SDK forgets its own continuation token unless it is handed back
      const { responseBody } = await query.next(query.continuationToken as unknown as string);
      pages += 1;
      seen.push(...(responseBody as unknown as Array<{ registrationId: string }>).map((e) => e.registrationId));
    }
    expect(pages).toBeGreaterThan(1);
    for (const m of made) expect(seen).toContain(m.registrationId);
    const { responseBody: att } = await service.getIndividualEnrollmentAttestationMechanism(made[0]!.registrationId);
    expect(att).toMatchObject({ type: 'symmetricKey', symmetricKey: { primaryKey: made[0]!.primaryKey } });
    const { responseBody: current } = await service.getIndividualEnrollment(made[0]!.registrationId);
    await service.createOrUpdateIndividualEnrollment({ ...current, provisioningStatus: 'disabled' } as never);
    await expect(service.createOrUpdateIndividualEnrollment({ ...current, provisioningStatus: 'enabled' } as never)).rejects.toMatchObject({ response: { statusCode: 412 } });
  });

  it('lists a group’s registration states and deletes one (the device stays in its hub)', async () => {
    const service = provisioningService();
    const enrollmentGroupId = uniqueName('grp');
    const groupKey = generateSymmetricKey();
    await service.createOrUpdateEnrollmentGroup({ enrollmentGroupId, attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: groupKey } } } as never);
    const ids = [uniqueName('m'), uniqueName('m')];
    const assigned = [];
    for (const id of ids) assigned.push(await registerDevice('Http', id, groupDeviceKey(groupKey, id)));
    const { responseBody } = await service.createEnrollmentGroupDeviceRegistrationStateQuery({ query: '*' }, enrollmentGroupId).next();
    expect((responseBody as unknown as Array<{ registrationId: string }>).map((r) => r.registrationId).sort()).toEqual([...ids].sort());
    await service.deleteDeviceRegistrationState(ids[0]!);
    await expect(service.getDeviceRegistrationState(ids[0]!)).rejects.toMatchObject({ response: { statusCode: 404 } });
    const { responseBody: device } = await Registry.fromConnectionString(ownerOf(assigned[0]!.assignedHub)).get(ids[0]!);
    expect(device.deviceId).toBe(ids[0]);
  });
});

describe('iothub dps (CLI)', () => {
  it('creates, shows, updates, lists and deletes an enrollment; derives group keys; shows and lists registrations', async () => {
    const rid = uniqueName('cli');
    const created = await iothub('dps', 'enrollment', 'create', '--enrollment-id', rid, '--initial-twin-tags', '{"site":"lab"}', '--ap', 'static', '--iot-hubs', hub().secondHub.hostName);
    expect(created.code).toBe(0);
    const doc = created.json() as { attestation: { symmetricKey: { primaryKey: string } }; etag: string };
    expect(doc).toMatchObject({ registrationId: rid, initialTwin: { tags: { site: 'lab' } }, allocationPolicy: 'static', iotHubs: [hub().secondHub.hostName] });
    const r = await registerDevice('Mqtt', rid, doc.attestation.symmetricKey.primaryKey);
    expect(r.assignedHub).toBe(hub().secondHub.hostName);
    const updated = await iothub('dps', 'enrollment', 'update', '--enrollment-id', rid, '--ps', 'disabled');
    expect(updated.code).toBe(0);
    expect(updated.json()).toMatchObject({ provisioningStatus: 'disabled', initialTwin: { tags: { site: 'lab' } } });
    expect((await iothub('dps', 'enrollment', 'show', '--enrollment-id', rid)).json()).toMatchObject({ registrationState: { status: 'assigned' } });
    expect((await iothub('dps', 'enrollment', 'list')).json()).toEqual(expect.arrayContaining([expect.objectContaining({ registrationId: rid })]));
    expect((await iothub('dps', 'registration', 'show', '--registration-id', rid)).json()).toMatchObject({ assignedHub: hub().secondHub.hostName });
    expect((await iothub('dps', 'enrollment', 'delete', '--enrollment-id', rid)).code).toBe(0);
    const gone = await iothub('dps', 'enrollment', 'show', '--enrollment-id', rid);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/404/);

    const gid = uniqueName('cligrp');
    const group = await iothub('dps', 'enrollment-group', 'create', '--group-id', gid);
    expect(group.code).toBe(0);
    const groupKey = (group.json() as { attestation: { symmetricKey: { primaryKey: string } } }).attestation.symmetricKey.primaryKey;
    const offline = await iothub('dps', 'compute-device-key', '--key', groupKey, '--registration-id', 'sensor-7');
    expect(offline.out.trim()).toBe(groupDeviceKey(groupKey, 'sensor-7'));
    const online = await iothub('dps', 'enrollment-group', 'compute-device-key', '--group-id', gid, '--registration-id', 'sensor-7');
    expect(online.out.trim()).toBe(groupDeviceKey(groupKey, 'sensor-7'));
    await registerDevice('Http', 'sensor-7', offline.out.trim());
    expect((await iothub('dps', 'registration', 'list', '--group-id', gid)).json()).toEqual([expect.objectContaining({ registrationId: 'sensor-7', status: 'assigned' })]);
    expect((await iothub('dps', 'registration', 'delete', '--registration-id', 'sensor-7')).code).toBe(0);
  });
});
