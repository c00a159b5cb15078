import { describe, expect, it } from 'vitest';
import { DomainError } from '@openiothub/errors';
import { classifyDpsPublish, dpsError, dpsResponseTopic, parseDpsUsername, parseRegisterBody } from './wire.js';

describe('DPS MQTT wire (sdk-compat §9.1)', () => {
  it('reads the username the provisioning SDK sends (no "?" before the parameters)', () => {
    const u = parseDpsUsername('0ne0000ABCD/registrations/sensor-1/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1');
    expect(u).toMatchObject({ idScope: '0ne0000ABCD', registrationId: 'sensor-1' });
    expect(u!.params.get('api-version')).toBe('2019-03-31');
    expect(parseDpsUsername('localhost/dev1/?api-version=2021-04-12')).toBeUndefined();
  });

  it('classifies register and operation-status publishes; anything else is unknown', () => {
    expect(classifyDpsPublish('$dps/registrations/PUT/iotdps-register/?$rid=42')).toEqual({ kind: 'register', rid: '42' });
    expect(classifyDpsPublish('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=43&operationId=4.abc.def')).toEqual({ kind: 'status', rid: '43', operationId: '4.abc.def' });
    expect(classifyDpsPublish('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=43')).toEqual({ kind: 'unknown' });
    expect(classifyDpsPublish('$dps/registrations/PUT/iotdps-register/')).toEqual({ kind: 'unknown' });
    expect(classifyDpsPublish('devices/x/messages/events/')).toEqual({ kind: 'unknown' });
  });

  it('answers on the topic the SDK matches, with retry-after in the query', () => {
    const topic = dpsResponseTopic(202, 'r-1', 3);
    expect(topic).toBe('$dps/registrations/res/202/?$rid=r-1&retry-after=3');
    expect(/^\$dps\/registrations\/res\/(.*)\/\?(.*)$/.exec(topic)?.[1]).toBe('202');
    expect(dpsResponseTopic(401, 'r-2')).toBe('$dps/registrations/res/401/?$rid=r-2');
  });

  it('takes the custom payload and refuses a body naming another registration', () => {
    expect(parseRegisterBody('{"registrationId":"a","payload":{"modelId":"dtmi:x;1"}}', 'a')).toEqual({ payloadJson: '{"modelId":"dtmi:x;1"}' });
    expect(parseRegisterBody('{"registrationId":"a"}', 'a')).toEqual({ payloadJson: '' });
    expect(parseRegisterBody('{"registrationId":"b"}', 'a')).toHaveProperty('error');
    expect(parseRegisterBody('not json', 'a')).toHaveProperty('error');
    expect(parseRegisterBody('[1]', 'a')).toHaveProperty('error');
  });

  it('writes DPS error bodies with the six-digit code', () => {
    const e = dpsError(new DomainError('IotHubUnauthorizedAccess', 'nope'), new Date('2026-01-01T00:00:00Z'));
    expect(e.status).toBe(401);
    expect(e.body).toMatchObject({ errorCode: 401002, message: 'nope', timestampUtc: '2026-01-01T00:00:00.000Z' });
  });
});
