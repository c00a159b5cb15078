import { describe, expect, it } from 'vitest';
import { audienceCovered, c2dTargetOf, classifyAddress } from './addresses.js';

describe('AMQP link addresses', () => {
  it.each([
    ['$cbs', true, { kind: 'cbs' }],
    ['/messages/devicebound', true, { kind: 'service-c2d' }],
    ['/messages/serviceBound/feedback', false, { kind: 'service-feedback' }],
    ['/messages/serviceBound/filenotifications', false, { kind: 'service-file-notifications' }],
    ['/devices/dev%201/messages/events', true, { kind: 'device-telemetry', deviceId: 'dev 1', moduleId: undefined }],
    ['amqps://localhost/devices/d1/messages/events', true, { kind: 'device-telemetry', deviceId: 'd1', moduleId: undefined }],
    ['/devices/d1/messages/devicebound', false, { kind: 'device-c2d', deviceId: 'd1' }],
    ['/devices/d1/modules/m1/messages/events', true, { kind: 'device-telemetry', deviceId: 'd1', moduleId: 'm1' }],
    ['/devices/d1/modules/m1/messages/events', false, { kind: 'device-c2d', deviceId: 'd1', moduleId: 'm1' }],
    ['/devices/d1/methods/devicebound', false, { kind: 'device-methods', deviceId: 'd1', moduleId: undefined }],
    ['/devices/d1/modules/m1/twin', true, { kind: 'device-twin', deviceId: 'd1', moduleId: 'm1' }],
    ['$management', true, { kind: 'eh-management' }],
    ['/messages/events/$management', true, { kind: 'legacy-events', rest: '$management' }],
    ['amqps://localhost/messages/events/$management', false, { kind: 'legacy-events', rest: '$management' }],
    ['messages/events/ConsumerGroups/$Default/Partitions/1', false, { kind: 'legacy-events', rest: 'ConsumerGroups/$Default/Partitions/1' }],
    ['hub1/ConsumerGroups/$Default/Partitions/3', false, { kind: 'eh-partition', eventHub: 'hub1', consumerGroup: '$Default', partition: '3' }],
    ['/hub1/consumergroups/cg1/partitions/0', false, { kind: 'eh-partition', eventHub: 'hub1', consumerGroup: 'cg1', partition: '0' }],
  ] as const)('%s (peer sends: %s)', (address, peerSends, expected) => {
    expect(classifyAddress(address, peerSends)).toEqual(expected);
  });

  it.each([
    [undefined, true],
    ['/messages/devicebound', false],
    ['/devices/d1/messages/events', false],
    ['/devices/d1/messages/devicebound', true],
    ['/devices/%E0%A4%A/messages/events', true],
    ['/elsewhere', true],
  ] as const)('refuses %s (peer sends: %s)', (address, peerSends) => {
    expect(classifyAddress(address, peerSends)).toEqual({ kind: 'unknown' });
  });

  it('reads the device of a service C2D message from its `to`', () => {
    expect(c2dTargetOf('/devices/dev%2F1/messages/devicebound')).toEqual({ deviceId: 'dev/1' });
    expect(c2dTargetOf('/devices/d1/messages/deviceBound')).toEqual({ deviceId: 'd1' });
    expect(c2dTargetOf('/devices/d1')).toBeUndefined();
    expect(c2dTargetOf(undefined)).toBeUndefined();
  });
});

describe('put-token audiences', () => {
  const token = (sr: string) => `SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=x&se=1`;
  it.each([
    ['localhost/devices/d1', 'localhost/devices/d1', true],
    ['localhost%2Fdevices%2Fd1', 'localhost/devices/d1', true],
    ['localhost:5671/devices/d1', 'localhost/devices/d1', true],
    ['localhost/devices/d2', 'localhost/devices/d1', false],
    ['localhost/devices/d10', 'localhost/devices/d1', false],
    ['localhost', 'localhost', true],
    ['localhost/devices/d1', 'localhost', true],
    ['sb://localhost/hub1/ConsumerGroups/$default/Partitions/0', 'sb://localhost/hub1', true],
    ['sb://localhost/hub2/$management', 'sb://localhost/hub1', false],
    ['', 'localhost', false],
  ])('audience %s with sr %s: %s', (audience, sr, ok) => {
    expect(audienceCovered(audience, token(sr))).toBe(ok);
  });
});
