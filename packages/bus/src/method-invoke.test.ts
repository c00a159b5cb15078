import { describe, expect, it } from 'vitest';
import { parseInvocation } from './method-invoke.js';

describe('parseInvocation', () => {
  it('applies the defaults the SDK relies on', () => {
    expect(parseInvocation({ methodName: 'reboot' })).toEqual({ methodName: 'reboot', payload: null, responseTimeoutInSeconds: 30, connectTimeoutInSeconds: 0 });
    expect(parseInvocation({ methodName: 'thermostat1*getMaxMinReport', payload: { since: 'x' }, responseTimeoutInSeconds: 300, connectTimeoutInSeconds: 10 })).toMatchObject({
      methodName: 'thermostat1*getMaxMinReport',
      responseTimeoutInSeconds: 300,
      connectTimeoutInSeconds: 10,
    });
    expect(parseInvocation({ methodName: 'm', timeoutInSeconds: 12 }).responseTimeoutInSeconds).toBe(12);
  });

  it.each([
    [{}, 'missing name'],
    [{ methodName: 'a b' }, 'space'],
    [{ methodName: 'a/b' }, 'slash'],
    [{ methodName: 'm', responseTimeoutInSeconds: 4 }, 'timeout below 5'],
    [{ methodName: 'm', responseTimeoutInSeconds: 301 }, 'timeout above 300'],
    [{ methodName: 'm', connectTimeoutInSeconds: -1 }, 'negative connect timeout'],
    [{ methodName: 'm', responseTimeoutInSeconds: '30' }, 'string timeout'],
    [[1], 'array body'],
  ] as Array<[unknown, string]>)('rejects %j (%s)', (body) => {
    expect(() => parseInvocation(body)).toThrow(expect.objectContaining({ code: 'ArgumentInvalid' }));
  });

  it('limits payloads to 128 KB', () => {
    expect(() => parseInvocation({ methodName: 'm', payload: 'x'.repeat(128 * 1024) })).toThrow(expect.objectContaining({ code: 'RequestEntityTooLarge' }));
  });
});
