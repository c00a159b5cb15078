import { describe, expect, it } from 'vitest';
import { Client as DeviceClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Registry, type Twin } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { createDevice, reportProperties } from './devices.js';
import { curl, hub, ownerConnectionString, ownerToken } from './helpers.js';

const registry = () => Registry.fromConnectionString(ownerConnectionString());

/** Every page of a query, as an SDK user loops: `nextAsTwin` while `hasMoreResults`. */
async function allTwins(sql: string, pageSize = 100): Promise<{ twins: Twin[]; pages: number }> {
  const query = registry().createQuery(sql, pageSize);
  const twins: Twin[] = [];
  let pages = 0;
  while (query.hasMoreResults) {
    const page = await query.nextAsTwin();
    twins.push(...page.result);
    pages++;
  }
  return { twins, pages };
}

describe('twin queries with azure-iothub (scenario 13, checklist O)', () => {
  it('tags a twin, queries, and sees the result change after the device reports connectivity', async () => {
    const plant = uniqueName('Redmond43');
    const d = await createDevice('myDeviceId');
    const twin = (await registry().getTwin(d.deviceId)).responseBody;
    await twin.update({ tags: { location: { region: 'US', plant } } });
    const inPlant = `SELECT * FROM devices WHERE tags.location.plant = '${plant}'`;
    const cellular = `${inPlant} AND properties.reported.connectivity.type = 'cellular'`;
    expect((await allTwins(inPlant)).twins.map((t) => t.deviceId)).toEqual([d.deviceId]);
    expect((await allTwins(cellular)).twins).toEqual([]);

    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    try {
      await reportProperties(await client.getTwin(), { connectivity: { type: 'cellular' } });
    } finally {
      await client.close();
    }
    const found = (await allTwins(cellular)).twins;
    expect(found.map((t) => t.deviceId)).toEqual([d.deviceId]);
    expect(found[0]!.properties.reported).toMatchObject({ connectivity: { type: 'cellular' } });
    expect(found[0]!.tags).toEqual({ location: { region: 'US', plant } });
  });

  it('pages 250 twins in pages of 100 and runs aggregates with next()', async () => {
    const fleet = uniqueName('fleet');
    const ids = Array.from({ length: 250 }, (_, i) => `${fleet}-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 100) {
      const r = await registry().addDevices(ids.slice(i, i + 100).map((deviceId) => ({ deviceId, status: 'enabled' as const })));
      expect(r.responseBody.isSuccessful).toBe(true);
    }
    await Promise.all(ids.map((id, i) => registry().updateTwin(id, { tags: { fleet, shard: i % 3 } }, '*')));
    const { twins, pages } = await allTwins(`SELECT * FROM devices WHERE tags.fleet = '${fleet}'`);
    expect(pages).toBe(3);
    expect(twins.map((t) => t.deviceId)).toEqual(ids);

    const groups = registry().createQuery(`SELECT tags.shard AS shard, COUNT() AS n FROM devices WHERE tags.fleet = '${fleet}' GROUP BY tags.shard`);
    const rows = (await groups.next()).result;
    expect(rows).toEqual([{ shard: 0, n: 84 }, { shard: 1, n: 83 }, { shard: 2, n: 83 }]);
    expect(groups.hasMoreResults).toBe(false);
  });

  it('answers raw HTTP with x-ms-continuation only while pages remain, and 400 for a bad query', async () => {
    const fleet = uniqueName('raw');
    const ids = [`${fleet}-a`, `${fleet}-b`, `${fleet}-c`];
    await registry().addDevices(ids.map((deviceId) => ({ deviceId, status: 'enabled' as const })));
    await Promise.all(ids.map((id) => registry().updateTwin(id, { tags: { fleet } }, '*')));
    const url = `https://${hub().hostName}:${hub().ports.https}/devices/query?api-version=2021-04-12`;
    const body = JSON.stringify({ query: `SELECT deviceId FROM devices WHERE tags.fleet = '${fleet}'` });
    const args = (extra: string[] = []) => ['-X', 'POST', url, '-H', `authorization: ${ownerToken()}`, '-H', 'content-type: application/json', '-H', 'x-ms-max-item-count: 2', ...extra, '--data-binary', body];
    const first = await curl(args());
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual([{ deviceId: ids[0] }, { deviceId: ids[1] }]);
    const token = /^x-ms-continuation: (.+)$/im.exec(first.headers)?.[1]?.trim();
    expect(token).toBeTruthy();
    const second = await curl(args(['-H', `x-ms-continuation: ${token}`]));
    expect(JSON.parse(second.body)).toEqual([{ deviceId: ids[2] }]);
    expect(second.headers).not.toMatch(/x-ms-continuation/i);

    const bad = await curl(['-X', 'POST', url, '-H', `authorization: ${ownerToken()}`, '-H', 'content-type: application/json', '--data-binary', JSON.stringify({ query: "SELECT * FROM devices WHERE deviceId = 'x' OR 1=1; DROP TABLE twin.twins" })]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).Message).toMatch(/^ErrorCode:ArgumentInvalid;Invalid query: Syntax error at position/);
  });
});
