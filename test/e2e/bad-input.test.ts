import { describe, expect, it } from 'vitest';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { baseUrl, curl, hubFetch, ownerConnectionString, ownerToken } from './helpers.js';

async function expectError(res: Response | { status: number; body: string }, status: number, code: string) {
  const body = res instanceof Response ? await res.text() : res.body;
  expect(res.status).toBe(status);
  expect(JSON.parse(body).Message).toMatch(new RegExp(`^ErrorCode:${code};`));
}

describe('bad input gets a 400 in the IoT Hub format, and the hub stays up', () => {
  it('malformed JSON', async () => {
    const id = uniqueName('bad');
    await expectError(await hubFetch(`/devices/${id}`, { method: 'PUT', body: '{"deviceId": ' }), 400, 'ArgumentInvalid');
    await expectError(await hubFetch(`/devices/${id}`, { method: 'PUT', body: '[1,2]' }), 400, 'ArgumentInvalid');
    await expectError(await hubFetch(`/devices/${id}`, { method: 'PUT', body: '' }), 400, 'ArgumentInvalid');
    await expectError(await hubFetch(`/devices/${id}`, { method: 'PUT', body: JSON.stringify({ deviceId: id, status: 'paused' }) }), 400, 'ArgumentInvalid');
    await expectError(await hubFetch(`/devices/${id}`, { method: 'PUT', body: JSON.stringify({ deviceId: 'other' }) }), 400, 'ArgumentInvalid');
    await expectError(await hubFetch('/devices', { method: 'POST', body: JSON.stringify({ not: 'an array' }) }), 400, 'ArgumentInvalid');
  });

  it.each([
    ['129 characters', 'a'.repeat(129)],
    ['a space', 'bad id'],
    ['a non-ASCII letter', 'dévice'],
    ['a semicolon', 'a;b'],
  ])('bad device id: %s', async (_what, id) => {
    await expectError(await hubFetch(`/devices/${encodeURIComponent(id)}`, { method: 'PUT', body: JSON.stringify({}) }), 400, 'ArgumentInvalid');
  });

  it('bad device ids through the SDK surface as ArgumentError', async () => {
    const r = Registry.fromConnectionString(ownerConnectionString());
    await expect(r.create({ deviceId: 'x'.repeat(129) })).rejects.toMatchObject({ name: 'ArgumentError' });
    const ok = "d-._+%#*?!(),=@$'" + uniqueName('').slice(1);
    expect((await r.create({ deviceId: ok })).responseBody.deviceId).toBe(ok);
    expect((await r.get(ok)).responseBody.deviceId).toBe(ok);
  });

  it('oversized bodies, declared or chunked', async () => {
    const big = Buffer.alloc(300 * 1024, 'a');
    const id = uniqueName('big');
    // declared Content-Length over the limit
    await expectError(
      await curl(['-X', 'PUT', '-H', `Authorization: ${ownerToken()}`, '-H', 'Content-Type: application/json', '--data-binary', '@-', `${baseUrl()}/devices/${id}?api-version=2021-04-12`], big),
      400,
      'ArgumentInvalid',
    );
    // chunked, no length: the hub stops reading at the limit
    await expectError(
      await curl(['-X', 'PUT', '-H', `Authorization: ${ownerToken()}`, '-H', 'Transfer-Encoding: chunked', '--data-binary', '@-', `${baseUrl()}/devices/${id}?api-version=2021-04-12`], big),
      400,
      'ArgumentInvalid',
    );
  });

  it('missing api-version, unknown paths and wrong methods', async () => {
    await expectError(await hubFetch('/devices?api-version='), 400, 'ArgumentInvalid');
    const raw = await curl(['-H', `Authorization: ${ownerToken()}`, `${baseUrl()}/devices`]);
    await expectError(raw, 400, 'ArgumentInvalid');
    await expectError(await hubFetch('/nothing/here'), 404, 'NotFound');
    await expectError(await hubFetch('/statistics/devices', { method: 'DELETE' }), 405, 'MethodNotAllowed');
    await expectError(await hubFetch('/devices/%E0%A4%A'), 400, 'ArgumentInvalid');
    await expectError(await hubFetch('/devices?top=5000'), 400, 'ArgumentInvalid');
  });

  it('garbage bytes on the TLS port do not take the hub down', async () => {
    const { connect } = await import('node:tls');
    const url = new URL(baseUrl());
    await new Promise<void>((resolve) => {
      const s = connect({ host: url.hostname, port: Number(url.port || 443), servername: url.hostname }, () => {
        s.end(Buffer.from('\x00\xff GARBAGE \r\n\r\n\x16\x03'));
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.resume();
    });
    const r = await hubFetch('/statistics/devices');
    expect(r.status).toBe(200);
    expect(await r.json()).toHaveProperty('totalDeviceCount');
  });

  it('the hub still serves the SDK after all of the above', async () => {
    const r = Registry.fromConnectionString(ownerConnectionString());
    const id = uniqueName('alive');
    expect((await r.create({ deviceId: id })).responseBody.deviceId).toBe(id);
  });
});
