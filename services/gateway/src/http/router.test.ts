import { describe, expect, it } from 'vitest';
import { ArgumentInvalidError, type DomainError } from '@openiothub/errors';
import { Router, splitPath } from './router.js';
import { HubResolver } from '../auth/hub-resolver.js';

describe('splitPath', () => {
  it('treats a trailing slash as absent and decodes segments', () => {
    expect(splitPath('/devices/')).toEqual(['devices']);
    expect(splitPath('/devices')).toEqual(['devices']);
    expect(splitPath('/devices/dev%201%2Fx/modules')).toEqual(['devices', 'dev 1/x', 'modules']);
    expect(() => splitPath('/devices/%E0%A4%A')).toThrow(ArgumentInvalidError);
  });
});

describe('Router', () => {
  const ok = async () => ({ status: 200 });
  const router = new Router().on('GET', '/devices/:deviceId', ok).on('PUT', '/devices/:deviceId', ok);

  it('matches params and tells 405 from 404', () => {
    expect(router.match('GET', ['devices', 'a b']).params).toEqual({ deviceId: 'a b' });
    expect(() => router.match('POST', ['devices', 'x'])).toThrow(expect.objectContaining({ code: 'MethodNotAllowed' }) as DomainError);
    expect(() => router.match('GET', ['nothing'])).toThrow(expect.objectContaining({ code: 'NotFound' }) as DomainError);
  });
});

describe('HubResolver', () => {
  const hubs = new HubResolver({ defaultHub: 'localhost', domain: 'iot.example' });
  it.each([
    ['localhost', 'localhost'],
    ['localhost:443', 'localhost'],
    ['127.0.0.1', 'localhost'],
    ['[::1]:443', 'localhost'],
    ['Hub1.IOT.example', 'hub1'],
    ['hub1.iot.example:8883', 'hub1'],
  ])('%s → %s', (host, hub) => {
    expect(hubs.resolve(host)).toBe(hub);
  });

  it.each(['evil.com', 'a.b.iot.example', '', 'iot.example'])('%j is not a hub', (host) => {
    expect(() => hubs.resolve(host)).toThrow(expect.objectContaining({ code: 'IotHubNotFound' }) as DomainError);
  });
});
