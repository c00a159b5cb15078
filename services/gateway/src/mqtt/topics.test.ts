import { describe, expect, it } from 'vitest';
import { classifyPublish, classifySubscription, filterOf, isDpsUsername, parseClientId, parsePropertyBag, parseUsername, SUBSCRIPTION_KINDS } from './topics.js';

describe('parseUsername', () => {
  it.each([
    [
      'localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)sdkcheck%2F0.1',
      { host: 'localhost', deviceId: 'dev1', moduleId: undefined, api: '2021-04-12' },
    ],
    ['localhost/dev1/mod1/?api-version=2021-04-12', { host: 'localhost', deviceId: 'dev1', moduleId: 'mod1', api: '2021-04-12' }],
    ['contoso.azure-devices.net/MyDevice01', { host: 'contoso.azure-devices.net', deviceId: 'MyDevice01', moduleId: undefined, api: undefined }],
    ['localhost:8883/dev1/?api-version=2021-04-12', { host: 'localhost:8883', deviceId: 'dev1', moduleId: undefined, api: '2021-04-12' }],
  ])('%s', (username, want) => {
    const u = parseUsername(username)!;
    expect({ host: u.host, deviceId: u.deviceId, moduleId: u.moduleId, api: u.params.get('api-version') }).toEqual(want);
  });

  it('keeps an unencoded model-id', () => {
    const u = parseUsername('localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=x')!;
    expect(u.params.get('model-id')).toBe('dtmi:com:example:Thermostat;1');
  });

  it.each(['', 'localhost', 'localhost//x', 'a/b/c/d/?x', '/dev1/'])('rejects %j', (username) => {
    expect(parseUsername(username)).toBeUndefined();
  });

  it('tells DPS usernames apart', () => {
    expect(isDpsUsername('0ne00ABCDEF/registrations/reg-1/api-version=2019-03-31&ClientVersion=x')).toBe(true);
    expect(isDpsUsername('localhost/dev1/?api-version=2021-04-12')).toBe(false);
  });
});

describe('parseClientId', () => {
  it.each([
    ['dev1', { deviceId: 'dev1' }],
    ['dev1/mod1', { deviceId: 'dev1', moduleId: 'mod1' }],
    ['', undefined],
    ['a/b/c', undefined],
    ['a/', undefined],
  ])('%j', (clientId, want) => {
    expect(parseClientId(clientId)).toEqual(want);
  });
});

describe('parsePropertyBag', () => {
  it('decodes the SDK transcript (sdk-compat §4.3)', () => {
    const bag = '%24.mid=mid-1&%24.cid=cid%2F1&%24.uid=user1&%24.ct=application%2Fjson&%24.ce=utf-8&%24.exp=2030-01-01T00%3A00%3A00.000Z&alert%20level=high%26mighty%3D1&%24.sub=thermostat1';
    expect(parsePropertyBag(bag)).toEqual({
      system: {
        'message-id': 'mid-1',
        'correlation-id': 'cid/1',
        'user-id': 'user1',
        'content-type': 'application/json',
        'content-encoding': 'utf-8',
        'absolute-expiry-time': '2030-01-01T00:00:00.000Z',
        'dt-subject': 'thermostat1',
      },
      application: { 'alert level': 'high&mighty=1' },
    });
  });

  it('keeps + as a plus, allows empty values and an empty bag', () => {
    expect(parsePropertyBag('a+b=c+d&flag&e=')).toEqual({ system: {}, application: { 'a+b': 'c+d', flag: '', e: '' } });
    expect(parsePropertyBag('')).toEqual({ system: {}, application: {} });
    expect(parsePropertyBag('%24.on=out1&k=v')).toEqual({ system: { 'iothub-outputname': 'out1' }, application: { k: 'v' } });
  });

  it.each(['a=%E0%A4%A', '%zz=1', '=value'])('rejects %j', (bag) => {
    expect(parsePropertyBag(bag)).toBeUndefined();
  });
});

describe('classifyPublish', () => {
  const dev = { deviceId: 'dev1' };
  const mod = { deviceId: 'dev1', moduleId: 'mod1' };
  it.each([
    ['devices/dev1/messages/events/', dev, { kind: 'telemetry', bag: '' }],
    ['devices/dev1/messages/events', dev, { kind: 'telemetry', bag: '' }],
    ['devices/dev1/messages/events/a=1&b=2', dev, { kind: 'telemetry', bag: 'a=1&b=2' }],
    ['devices/dev1/modules/mod1/messages/events/%24.on=out1&k=v/', mod, { kind: 'telemetry', bag: '%24.on=out1&k=v' }],
    ['devices/dev2/messages/events/', dev, { kind: 'forbidden' }],
    ['devices/dev1/modules/mod1/messages/events/', dev, { kind: 'forbidden' }],
    ['devices/dev1/messages/events/', mod, { kind: 'forbidden' }],
    ['devices/dev1/messages/events/a/b', dev, { kind: 'forbidden' }],
    ['devices/dev1/messages/devicebound/', dev, { kind: 'forbidden' }],
    ['$iothub/twin/GET/?$rid=42', dev, { kind: 'twin-get', rid: '42' }],
    ['$iothub/twin/PATCH/properties/reported/?$rid=7', mod, { kind: 'twin-patch-reported', rid: '7' }],
    ['$iothub/twin/GET/?x=1', dev, { kind: 'forbidden' }],
    ['$iothub/methods/res/200/?$rid=42', dev, { kind: 'method-response', status: 200, rid: '42' }],
    ['$iothub/methods/res/abc/?$rid=42', dev, { kind: 'forbidden' }],
    ['random/topic', dev, { kind: 'forbidden' }],
    ['#', dev, { kind: 'forbidden' }],
  ])('%s as %j', (topic, id, want) => {
    expect(classifyPublish(topic, id)).toEqual(want);
  });
});

describe('classifySubscription', () => {
  const dev = { deviceId: 'dev1' };
  const mod = { deviceId: 'dev1', moduleId: 'mod1' };
  it.each([
    ['devices/dev1/messages/devicebound/#', dev, 'c2d'],
    ['devices/dev1/messages/devicebound/#', mod, undefined],
    ['devices/dev2/messages/devicebound/#', dev, undefined],
    ['$iothub/methods/POST/#', mod, 'methods'],
    ['$iothub/twin/res/#', dev, 'twin-responses'],
    ['$iothub/twin/PATCH/properties/desired/#', dev, 'desired'],
    ['devices/dev1/modules/mod1/inputs/#', mod, 'inputs'],
    ['devices/dev1/modules/mod1/inputs/#', dev, undefined],
    ['devices/dev1/messages/devicebound/+', dev, undefined],
    ['#', dev, undefined],
    ['devices/+/messages/events/#', dev, undefined],
  ])('%s for %j → %s', (filter, id, want) => {
    expect(classifySubscription(filter, id)).toBe(want);
  });

  it('round-trips every kind through filterOf', () => {
    const mod = { deviceId: 'd', moduleId: 'm' };
    for (const kind of SUBSCRIPTION_KINDS) {
      // C2D and device streams are for devices; every other kind is tried as a module
      const id = kind === 'c2d' || kind === 'streams' || kind === 'stream-responses' ? { deviceId: 'd' } : mod;
      expect(classifySubscription(filterOf(kind, id), id)).toBe(kind);
    }
  });

  it('lets devices, not modules, subscribe to device streams; classifies stream answers', () => {
    expect(classifySubscription('$iothub/streams/POST/#', { deviceId: 'd' })).toBe('streams');
    expect(classifySubscription('$iothub/streams/POST/#', { deviceId: 'd', moduleId: 'm' })).toBeUndefined();
    expect(classifyPublish('$iothub/streams/res/200/?$rid=7', { deviceId: 'd' })).toEqual({ kind: 'stream-response', status: 200, rid: '7' });
    expect(classifyPublish('$iothub/streams/res/200/?x=1', { deviceId: 'd' })).toEqual({ kind: 'forbidden' });
  });
});
