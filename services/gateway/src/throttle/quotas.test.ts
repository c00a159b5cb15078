import { describe, expect, it } from 'vitest';
import { dailyQuota, isBasicTier, meteredMessages, operationOf, ratePerSecond, standardFeatureOf } from './quotas.js';

describe("IoT Hub's quota table (devguide §22, checklist 275-283)", () => {
  it('D2C and new connections: the higher of 100/s or 12/s/unit on S1, 120/unit on S2, 6000/unit on S3', () => {
    expect(ratePerSecond('S1', 1, 'd2c')).toBe(100);
    expect(ratePerSecond('S1', 9, 'd2c')).toBe(108);
    expect(ratePerSecond('S2', 2, 'connect')).toBe(240);
    expect(ratePerSecond('S3', 1, 'connect')).toBe(6000);
  });

  it('identity operations 100/min/unit (S3 5000/min/unit); twin reads 100/s and updates 50/s on S1; methods in 4 KB chunks', () => {
    expect(ratePerSecond('S1', 1, 'identity')! * 60).toBeCloseTo(100, 0);
    expect(ratePerSecond('S3', 1, 'identity')! * 60).toBeCloseTo(5000, 0);
    expect(ratePerSecond('S1', 4, 'twinRead')).toBe(100);
    expect(ratePerSecond('S2', 20, 'twinRead')).toBe(200);
    expect(ratePerSecond('S1', 1, 'twinUpdate')).toBe(50);
    expect(ratePerSecond('S1', 1, 'methods')).toBe(40); // 160 KB/s
    expect(ratePerSecond('b1', 1, 'c2dReceive')).toBeCloseTo(16.67);
  });

  it('throttles nothing for "unlimited" (the self-hosting default) and unknown SKUs', () => {
    expect(ratePerSecond('unlimited', 1, 'd2c')).toBeUndefined();
    expect(ratePerSecond('X9', 1, 'identity')).toBeUndefined();
    expect(dailyQuota('unlimited', 1)).toBeUndefined();
  });

  it('meters the daily quota in 4 KB chunks (0.5 KB on F1)', () => {
    expect(dailyQuota('S1', 2)).toEqual({ messages: 800_000, chunkBytes: 4096 });
    expect(dailyQuota('F1', 1)).toEqual({ messages: 8_000, chunkBytes: 512 });
    expect(meteredMessages(6 * 1024, 4096)).toBe(2);
    expect(meteredMessages(0, 4096)).toBe(1);
    expect(meteredMessages(6 * 1024, 512)).toBe(12);
  });

  it.each([
    ['GET', ['devices', 'd1'], 'identity'],
    ['PUT', ['devices', 'd1', 'modules', 'm1'], 'identity'],
    ['POST', ['devices', 'query'], 'twinRead'],
    ['POST', ['devices', 'd1', 'messages', 'events'], undefined],
    ['POST', ['devices', 'd1', 'modules', 'm1', 'messages', 'events'], undefined],
    ['GET', ['devices', 'd1', 'messages', 'devicebound'], 'c2dReceive'],
    ['POST', ['devices', 'd1', 'messages', 'devicebound'], 'c2dSend'],
    ['DELETE', ['devices', 'd1', 'messages', 'devicebound', 'lock'], undefined],
    ['POST', ['devices', 'd1', 'files', 'notifications'], 'fileNotification'],
    ['POST', ['devices', 'd1', 'files'], 'fileUpload'],
    ['GET', ['twins', 'd1'], 'twinRead'],
    ['PATCH', ['twins', 'd1', 'modules', 'm1'], 'twinUpdate'],
    ['POST', ['twins', 'd1', 'methods'], 'methods'],
    ['POST', ['twins', 'd1', 'modules', 'm1', 'methods'], 'methods'],
    ['PUT', ['jobs', 'v2', 'j1'], 'jobs'],
    ['GET', ['configurations'], 'configurations'],
    ['GET', ['settings', 'routing'], undefined],
    ['GET', ['statistics', 'devices'], undefined],
  ] as const)('%s /%s is %s', (method, path, op) => {
    expect(operationOf(method, path)).toBe(op);
  });

  it('knows the standard-tier features a Basic hub lacks (protocols-ops §0.1)', () => {
    expect(isBasicTier('B2')).toBe(true);
    expect(isBasicTier('S1')).toBe(false);
    expect(isBasicTier('F1')).toBe(false);
    expect(standardFeatureOf('c2dSend', ['devices', 'd', 'messages', 'devicebound'])).toBe('Cloud-to-device messaging');
    expect(standardFeatureOf('twinRead', ['twins', 'd'])).toBe('Device twins');
    expect(standardFeatureOf('twinRead', ['devices', 'query'])).toBeUndefined();
    expect(standardFeatureOf(undefined, ['twins', 'd', 'streams', 's'])).toBe('Device streams');
    expect(standardFeatureOf('identity', ['devices', 'd'])).toBeUndefined();
    expect(standardFeatureOf('fileUpload', ['devices', 'd', 'files'])).toBeUndefined();
  });
});
