import { describe, expect, it } from 'vitest';
import { buildConnectionString, deviceConnectionString, parseConnectionString, parseServiceConnectionString } from './connection-string.js';
import { ArgumentInvalidError } from '@openiothub/errors';

describe('connection strings', () => {
  it('splits at the first = so base64 padding survives, last duplicate wins', () => {
    expect(parseConnectionString('HostName=h;SharedAccessKey=abc==;HostName=h2;;')).toEqual({ HostName: 'h2', SharedAccessKey: 'abc==' });
  });

  it('round-trips a device connection string', () => {
    const cs = deviceConnectionString({ hostName: 'localhost', deviceId: 'd1', sharedAccessKey: 'k=' });
    expect(cs).toBe('HostName=localhost;DeviceId=d1;SharedAccessKey=k=');
    expect(parseConnectionString(cs)).toEqual({ HostName: 'localhost', DeviceId: 'd1', SharedAccessKey: 'k=' });
    expect(buildConnectionString({ A: '1', B: undefined })).toBe('A=1');
  });

  it('parses and checks a service connection string', () => {
    expect(parseServiceConnectionString('HostName=h;SharedAccessKeyName=iothubowner;SharedAccessKey=x=')).toEqual({
      hostName: 'h',
      sharedAccessKeyName: 'iothubowner',
      sharedAccessKey: 'x=',
    });
    expect(() => parseServiceConnectionString('HostName=h;SharedAccessKey=x')).toThrow(ArgumentInvalidError);
    expect(() => parseConnectionString('garbage')).toThrow(ArgumentInvalidError);
  });
});
