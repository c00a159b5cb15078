import { describe, expect, it } from 'vitest';
import { UnauthorizedError } from '@openiothub/errors';
import { classifySasToken } from './principal.js';
import { createSasToken, parseSasToken } from './sas.js';

const key = Buffer.alloc(32, 1).toString('base64');
const token = (resourceUri: string, keyName?: string) => parseSasToken(createSasToken({ resourceUri, key, keyName, expiry: 2_000_000_000 }));

describe('classifySasToken', () => {
  it('tells policy, device and module tokens apart, keeping id case', () => {
    expect(classifySasToken(token('hub.net', 'iothubowner'))).toMatchObject({ kind: 'policy', keyName: 'iothubowner' });
    expect(classifySasToken(token('hub.net/devices/Dev1', 'device'))).toMatchObject({ kind: 'policy', keyName: 'device' });
    expect(classifySasToken(token('hub.net/devices/Dev1'))).toMatchObject({ kind: 'device', deviceId: 'Dev1' });
    expect(classifySasToken(token('hub.net:8883/devices/a.b*c'))).toMatchObject({ kind: 'device', deviceId: 'a.b*c' });
    expect(classifySasToken(token('hub.net/devices/Dev1/modules/Mod'))).toMatchObject({ kind: 'module', deviceId: 'Dev1', moduleId: 'Mod' });
  });

  it.each(['hub.net', 'hub.net/devices', 'hub.net/devices/a/b', 'hub.net/things/a', 'hub.net/devices/a/modules'])('rejects a key token for %s', (uri) => {
    expect(() => classifySasToken(token(uri))).toThrow(UnauthorizedError);
  });
});
