import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import rhea, { type EventContext } from 'rhea';
import { createSasToken } from '@openiothub/auth';
import { uniqueName } from '@openiothub/testing';
import { restOn, startExtraGateway, type ExtraGateway } from './gateways.js';
import { rawConnect, usernameOf } from './devices.js';
import { hub, ownerConnectionString, ownerToken } from './helpers.js';

// No secret in any log line: a gateway process of the build logging at trace level goes through
// every credential path — good and bad SAS tokens on MQTT, HTTPS and AMQP, keys in registry
// answers, key regeneration — and nothing it logged contains a key or a token's signature.

let gateway: ExtraGateway;
beforeAll(async () => {
  gateway = await startExtraGateway({ logs: 'capture', env: { LOG_LEVEL: 'trace' } });
});
afterAll(async () => {
  await gateway?.stop();
});

const secrets: string[] = [];
/** Remember a token's signature (as sent and decoded) as a secret; return the token. */
const remember = (token: string) => {
  const sig = /sig=([^&]+)/.exec(token)?.[1] ?? '';
  secrets.push(sig, decodeURIComponent(sig));
  return token;
};
const deviceToken = (deviceId: string, key: string, ttl = 3600) =>
  remember(createSasToken({ resourceUri: `localhost/devices/${deviceId}`, key, expiry: Math.floor(Date.now() / 1000) + ttl }));

/** A REST call to the gateway with the given token. */
const rest = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) => restOn(() => gateway, () => token).call(method, path, body, headers);

function cbsPutToken(token: string, audience: string): Promise<string> {
  const conn = rhea.create_container().connect({ host: 'localhost', hostname: 'localhost', port: gateway.amqpPort, transport: 'tls', ca: readFileSync(hub().caCertPath), servername: 'localhost', reconnect: false } as never);
  return new Promise((resolve) => {
    const done = (outcome: string) => {
      conn.close();
      resolve(outcome);
    };
    conn.once('disconnected', () => resolve('disconnected'));
    conn.once('connection_open', () => {
      const reply = conn.open_receiver({ source: { address: '$cbs' } });
      const sender = conn.open_sender({ target: { address: '$cbs' } });
      reply.once('message', (ctx: EventContext) => done(String((ctx.message!.application_properties as Record<string, unknown>)['status-code'])));
      sender.once('sendable', () =>
        sender.send({ body: token, to: '$cbs', reply_to: 'cbs', message_id: rhea.generate_uuid(), application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience } }),
      );
    });
  });
}

describe('logs', () => {
  it('carry no key and no token signature, whatever the credential path', async () => {
    const owner = remember(ownerToken());
    secrets.push(/SharedAccessKey=([^;]+)/.exec(ownerConnectionString())![1]!);
    const deviceId = uniqueName('logs');
    const created = await rest('PUT', `/devices/${deviceId}`, owner, { deviceId });
    expect(created.status).toBe(200);
    const keys = ((await created.json()) as { authentication: { symmetricKey: { primaryKey: string; secondaryKey: string } } }).authentication.symmetricKey;
    secrets.push(keys.primaryKey, keys.secondaryKey);
    const forgedKey = Buffer.from('not the key of this device').toString('base64');

    // MQTT: accepted, wrong key, expired, a connection string pasted as the password
    const ok = await rawConnect({ clientId: deviceId, username: usernameOf({ deviceId }, 'localhost'), password: deviceToken(deviceId, keys.primaryKey), port: gateway.mqttPort, clean: true });
    await ok.publishAsync(`devices/${deviceId}/messages/events/`, 'hello', { qos: 1 });
    await ok.endAsync();
    for (const password of [deviceToken(deviceId, forgedKey), deviceToken(deviceId, keys.primaryKey, -60), `HostName=localhost;DeviceId=${deviceId};SharedAccessKey=${keys.secondaryKey}`]) {
      await expect(rawConnect({ clientId: deviceId, username: usernameOf({ deviceId }, 'localhost'), password, port: gateway.mqttPort, clean: true })).rejects.toThrow();
    }

    // HTTPS: device telemetry with good and bad tokens; a device token on the service API; a forged policy token
    expect((await rest('POST', `/devices/${deviceId}/messages/events`, deviceToken(deviceId, keys.secondaryKey), 'x')).status).toBe(204);
    expect((await rest('POST', `/devices/${deviceId}/messages/events`, deviceToken(deviceId, forgedKey), 'x')).status).toBe(401);
    expect((await rest('GET', `/devices/${deviceId}`, deviceToken(deviceId, keys.primaryKey))).status).toBe(401);
    expect((await rest('GET', `/devices/${deviceId}`, remember(owner.replace(/sig=[^&]+/, 'sig=Zm9yZ2VkZm9yZ2VkZm9yZ2Vk')))).status).toBe(401);

    // AMQP CBS: a good device token, a bad one, a policy token
    expect(await cbsPutToken(deviceToken(deviceId, keys.primaryKey), `localhost/devices/${deviceId}`)).toBe('200');
    expect(await cbsPutToken(deviceToken(deviceId, forgedKey), `localhost/devices/${deviceId}`)).toBe('401');
    expect(await cbsPutToken(owner, 'localhost')).toBe('200');

    // key regeneration: new keys in the answer
    const regenerated = await rest('PUT', `/devices/${deviceId}`, owner, { deviceId, authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } } }, { 'if-match': '*' });
    expect(regenerated.status).toBe(200);
    const fresh = ((await regenerated.json()) as { authentication: { symmetricKey: { primaryKey: string; secondaryKey: string } } }).authentication.symmetricKey;
    secrets.push(fresh.primaryKey, fresh.secondaryKey);
    await new Promise((r) => setTimeout(r, 300));

    const logs = gateway.logs();
    const lines = logs.split('\n').filter(Boolean);
    // the paths above were logged: the connection, and each refusal with its reason
    expect(lines.filter((l) => l.includes('"msg":"device connected"'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('"msg":"device connect refused"'))).toHaveLength(3);
    // each carries IoT Hub's diagnostic log category
    for (const l of lines.filter((x) => x.includes('"msg":"device conn'))) expect(JSON.parse(l)).toMatchObject({ category: 'Connections' });
    for (const secret of secrets.filter((s) => s.length >= 8)) {
      const hit = lines.find((l) => l.includes(secret));
      expect(hit, `a log line carries a secret: ${hit}`).toBeUndefined();
    }
    expect(logs).not.toMatch(/sig=(?!\[redacted\])/i);
    expect(logs).not.toMatch(/SharedAccessKey=(?!\[redacted\])/i);
  });
});
