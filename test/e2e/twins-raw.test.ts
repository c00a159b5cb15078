import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { closedByServer, createDevice, identityToken, rawConnect, usernameOf } from './devices.js';

/** The next message on a topic matching `re`. */
function nextMessage(c: MqttClient, re: RegExp): Promise<{ topic: string; body: string }> {
  return new Promise((resolve) => {
    const on = (topic: string, payload: Buffer) => {
      if (!re.test(topic)) return;
      c.removeListener('message', on);
      resolve({ topic, body: payload.toString() });
    };
    c.on('message', on);
  });
}

describe('twin topics with a raw MQTT client', () => {
  it('answers GET and PATCH on $iothub/twin/res with status, $rid and $version; errors carry errorCode JSON', async () => {
    const d = await createDevice('rawtwin');
    const c = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    await c.subscribeAsync({ '$iothub/twin/res/#': { qos: 0 } });

    const got = nextMessage(c, /^\$iothub\/twin\/res\//);
    await c.publishAsync('$iothub/twin/GET/?$rid=1', ' ', { qos: 0 });
    const get = await got;
    expect(get.topic).toBe('$iothub/twin/res/200/?$rid=1');
    expect(JSON.parse(get.body)).toEqual({ desired: { $version: 1 }, reported: { $version: 1 } });

    const patched = nextMessage(c, /^\$iothub\/twin\/res\//);
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=2', JSON.stringify({ battery: 55 }), { qos: 1 });
    const patch = await patched;
    expect(patch.topic).toBe('$iothub/twin/res/204/?$rid=2&$version=2');
    expect(patch.body).toBe('');

    const failed = nextMessage(c, /^\$iothub\/twin\/res\//);
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=3', '{"not json', { qos: 0 });
    const err = await failed;
    expect(err.topic).toBe('$iothub/twin/res/400/?$rid=3');
    expect(JSON.parse(err.body)).toMatchObject({ errorCode: 400004, message: expect.stringMatching(/JSON/) });

    const limited = nextMessage(c, /^\$iothub\/twin\/res\//);
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=4', JSON.stringify({ 'a.b': 1 }), { qos: 0 });
    expect((await limited).topic).toBe('$iothub/twin/res/400/?$rid=4');

    // a request without $rid is not an IoT Hub topic: the connection is closed
    c.publish('$iothub/twin/GET/', ' ', { qos: 0 });
    await closedByServer(c);
    c.end(true);
  });

  it('pushes desired patches to subscribed connections only', async () => {
    const { Registry } = await import('azure-iothub');
    const { ownerConnectionString } = await import('./helpers.js');
    const d = await createDevice('rawdes');
    const subscribed = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d) });
    await subscribed.subscribeAsync({ '$iothub/twin/PATCH/properties/desired/#': { qos: 0 } });
    const push = nextMessage(subscribed, /^\$iothub\/twin\/PATCH\/properties\/desired\//);
    await Registry.fromConnectionString(ownerConnectionString()).updateTwin(d.deviceId, { properties: { desired: { a: 1, b: null } } }, '*');
    const m = await push;
    expect(m.topic).toBe('$iothub/twin/PATCH/properties/desired/?$version=2');
    expect(JSON.parse(m.body)).toEqual({ a: 1, b: null, $version: 2 });
    await subscribed.endAsync();
  });
});
