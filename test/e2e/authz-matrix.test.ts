import { beforeAll, describe, expect, it } from 'vitest';
import { createSasToken, generateSymmetricKey, parseConnectionString } from '@openiothub/auth';
import { createDevice, identityToken, type TestIdentity } from './devices.js';
import { hub, hubFetch, policyConnectionString } from './helpers.js';

// The authorization matrix (issue 11): every operation × {right policy, wrong policy, the device's
// own token, another device's token, expired, forged, wrong audience}. Only the right credential
// gets past authorization; every other one is 401 IotHubUnauthorizedAccess, before anything happens.

type Credential = 'right' | 'wrongPolicy' | 'deviceToken' | 'otherDevice' | 'expired' | 'forged' | 'wrongAudience';
const CREDENTIALS: Credential[] = ['right', 'wrongPolicy', 'deviceToken', 'otherDevice', 'expired', 'forged', 'wrongAudience'];

interface Operation {
  readonly name: string;
  readonly method: string;
  readonly path: (d: TestIdentity) => string;
  readonly body?: unknown;
  /** The policy that grants it and one that does not (device APIs: the device's own key is "right"). */
  readonly right: string | 'device';
  readonly wrong: string;
}

const OPERATIONS: Operation[] = [
  { name: 'get device', method: 'GET', path: (d) => `/devices/${d.deviceId}`, right: 'registryRead', wrong: 'service' },
  { name: 'list devices', method: 'GET', path: () => '/devices', right: 'registryRead', wrong: 'device' },
  { name: 'registry statistics', method: 'GET', path: () => '/statistics/devices', right: 'registryRead', wrong: 'service' },
  { name: 'update device', method: 'PUT', path: (d) => `/devices/${d.deviceId}`, body: {}, right: 'registryReadWrite', wrong: 'registryRead' },
  // twins: read with RegistryRead or ServiceConnect, written with ServiceConnect (devguide §10.3)
  { name: 'get twin', method: 'GET', path: (d) => `/twins/${d.deviceId}`, right: 'registryRead', wrong: 'device' },
  { name: 'update twin', method: 'PATCH', path: (d) => `/twins/${d.deviceId}`, body: { tags: { a: 1 } }, right: 'service', wrong: 'registryReadWrite' },
  { name: 'twin query', method: 'POST', path: () => '/devices/query', body: { query: 'SELECT * FROM devices' }, right: 'service', wrong: 'device' },
  { name: 'invoke method', method: 'POST', path: (d) => `/twins/${d.deviceId}/methods`, body: { methodName: 'm', responseTimeoutInSeconds: 5 }, right: 'service', wrong: 'registryReadWrite' },
  { name: 'send C2D', method: 'POST', path: (d) => `/devices/${d.deviceId}/messages/devicebound`, body: { data: 'x' }, right: 'service', wrong: 'registryRead' },
  { name: 'list configurations', method: 'GET', path: () => '/configurations', right: 'registryRead', wrong: 'service' },
  { name: 'list CA certificates', method: 'GET', path: () => '/certificates', right: 'registryRead', wrong: 'device' },
  { name: 'device telemetry', method: 'POST', path: (d) => `/devices/${d.deviceId}/messages/events`, body: { t: 1 }, right: 'device', wrong: 'registryReadWrite' },
  { name: 'device C2D receive', method: 'GET', path: (d) => `/devices/${d.deviceId}/messages/devicebound`, right: 'device', wrong: 'service' },
];

let target: TestIdentity;
let other: TestIdentity;
const keys = new Map<string, string>();

beforeAll(async () => {
  target = await createDevice('authz');
  other = await createDevice('authz');
  for (const p of ['registryRead', 'registryReadWrite', 'service', 'device']) keys.set(p, parseConnectionString(await policyConnectionString(p))['SharedAccessKey']!);
});

const policyToken = (keyName: string, opts: { ttl?: number; key?: string; host?: string } = {}) =>
  createSasToken({ resourceUri: opts.host ?? hub().hostName, key: opts.key ?? keys.get(keyName)!, keyName, expiry: Math.floor(Date.now() / 1000) + (opts.ttl ?? 600), encode: false });

/** The token a credential kind stands for, for one operation. */
function tokenFor(op: Operation, kind: Credential): string {
  const device = op.right === 'device';
  switch (kind) {
    case 'right':
      return device ? identityToken(target) : policyToken(op.right);
    case 'wrongPolicy':
      return policyToken(op.wrong);
    case 'deviceToken':
      return identityToken(target);
    case 'otherDevice':
      return identityToken(other);
    case 'expired':
      return device ? identityToken(target, -60) : policyToken(op.right, { ttl: -60 });
    case 'forged':
      return device ? identityToken({ ...target, key: generateSymmetricKey() }) : policyToken(op.right, { key: generateSymmetricKey() });
    case 'wrongAudience':
      return device ? identityToken(target, 600, 'elsewhere.example') : policyToken(op.right, { host: 'elsewhere.example' });
  }
}

describe('authorization matrix', () => {
  it.each(OPERATIONS.map((op) => [op.name, op] as const))('%s: only the right credential is authorized', async (_name, op) => {
    const outcomes: Record<string, number> = {};
    // for the device APIs the device's own token is the right credential
    const kinds = op.right === 'device' ? CREDENTIALS.filter((k) => k !== 'deviceToken') : CREDENTIALS;
    for (const kind of kinds) {
      const res = await hubFetch(op.path(target), {
        method: op.method,
        token: tokenFor(op, kind),
        headers: { 'content-type': 'application/json', 'if-match': '*' },
        ...(op.body === undefined ? {} : { body: JSON.stringify(op.body) }),
      });
      outcomes[kind] = res.status;
      if (kind !== 'right') {
        const body = (await res.json()) as { Message?: string };
        expect(body.Message, `${op.name} with ${kind}`).toMatch(/^ErrorCode:IotHubUnauthorizedAccess;/);
      } else await res.arrayBuffer();
    }
    // the right credential passes authorization: whatever it then answers, it is not 401/403
    expect(outcomes['right'], `${op.name}: ${JSON.stringify(outcomes)}`).not.toBe(401);
    expect(outcomes['right']).not.toBe(403);
    for (const kind of kinds.filter((k) => k !== 'right')) expect(outcomes[kind], `${op.name} with ${kind}`).toBe(401);
  });
});
