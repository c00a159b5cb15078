import { describe, expect, it } from 'vitest';
import { EventHubConsumerClient, type ReceivedEventData } from '@azure/event-hubs';
import { Client as DeviceClient, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { partitionOf as hashPartition } from '@openiothub/bus';
import { createDevice } from './devices.js';
import { hub, iothub, poll } from './helpers.js';
import { ehConnectionString, partitionOf, subscribeAll } from './eventhubs.js';

describe('Event Hubs-compatible built-in endpoint (@azure/event-hubs 6)', () => {
  it('the CLI prints an Event Hubs connection string naming the hub', async () => {
    const cs = await ehConnectionString();
    expect(cs).toMatch(new RegExp(`^Endpoint=sb://localhost/;SharedAccessKeyName=service;SharedAccessKey=[^;]+;EntityPath=${hub().hub}$`));
  });

  it('scenario 8: endpoint and path from `hub show` plus a policy key make a connection string any Event Hubs client can use', async () => {
    const shown = (await iothub('hub', 'show')).json() as { properties: { eventHubEndpoints: { events: { endpoint: string; path: string; partitionCount: number; retentionTimeInDays: number } } } };
    const events = shown.properties.eventHubEndpoints.events;
    expect(events).toMatchObject({ endpoint: 'sb://localhost/', path: hub().hub, partitionCount: 4, retentionTimeInDays: 1 });
    const key = (((await iothub('policy', 'show', '-n', 'service')).json()) as { primaryKey: string }).primaryKey;
    const client = new EventHubConsumerClient('$Default', `Endpoint=${events.endpoint};EntityPath=${events.path};SharedAccessKeyName=service;SharedAccessKey=${key}`);
    expect((await client.getPartitionIds()).length).toBe(4);
    await client.close();
  });

  it('reads telemetry from every partition with device id and properties (scenario 6), reports hub and partition properties', async () => {
    const client = new EventHubConsumerClient('$Default', await ehConnectionString());
    const props = await client.getEventHubProperties();
    expect(props.name).toBe(hub().hub);
    expect(props.partitionIds).toEqual(['0', '1', '2', '3']);
    const seen: ReceivedEventData[] = [];
    const sub = subscribeAll(client, seen, { offset: '@latest' });
    await new Promise((r) => setTimeout(r, 1500)); // the receivers attach
    const devices = await Promise.all([1, 2, 3, 4, 5, 6].map(() => createDevice('ehdev')));
    for (const d of devices) {
      const c = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
      await c.open();
      const m = new Message(JSON.stringify({ temperature: 21.5, device: d.deviceId }));
      m.properties.add('temperatureAlert', 'false');
      m.contentType = 'application/json';
      m.contentEncoding = 'utf-8';
      await c.sendEvent(m);
      await c.close();
    }
    const mine = () => seen.filter((e) => devices.some((d) => d.deviceId === e.systemProperties?.['iothub-connection-device-id']));
    await poll(async () => mine().length, (n) => n === devices.length, 20_000, 'events of all six devices');
    const e = mine()[0]!;
    expect(e.body).toMatchObject({ temperature: 21.5 });
    expect(e.properties).toEqual({ temperatureAlert: 'false' });
    expect(e.systemProperties).toMatchObject({ 'iothub-message-source': 'Telemetry', 'iothub-connection-auth-generation-id': expect.any(String) });
    expect(typeof e.sequenceNumber).toBe('number');
    expect(e.enqueuedTimeUtc).toBeInstanceOf(Date);
    // each event is in the partition its device id hashes to
    for (const x of mine()) expect(partitionOf.get(x)).toBe(String(hashPartition(String(x.systemProperties?.['iothub-connection-device-id']), 4)));
    const pp = await client.getPartitionProperties(partitionOf.get(e)!);
    expect(pp).toMatchObject({ eventHubName: hub().hub, partitionId: partitionOf.get(e), isEmpty: false });
    expect(pp.lastEnqueuedSequenceNumber).toBeGreaterThanOrEqual(e.sequenceNumber);
    await expect(client.getPartitionProperties('99')).rejects.toMatchObject({ code: 'ArgumentOutOfRangeError' });
    await sub.close();
    await client.close();
  });

  it('resumes from an offset, and two consumer groups each see every message', async () => {
    const d = await createDevice('ehresume');
    const c = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await c.open();
    for (const n of [1, 2, 3]) await c.sendEvent(new Message(`m${n}`));
    await c.close();
    const cs = await ehConnectionString();
    const readGroup = async (group: string, startPosition: object, expected: number) => {
      const client = new EventHubConsumerClient(group, cs);
      const seen: ReceivedEventData[] = [];
      const sub = subscribeAll(client, seen, startPosition as never);
      const mine = () => seen.filter((e) => e.systemProperties?.['iothub-connection-device-id'] === d.deviceId);
      await poll(async () => mine().length, (n) => n >= expected, 20_000, `${expected} events in ${group}`);
      await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
      await sub.close();
      await client.close();
      return mine();
    };
    const all = await readGroup('$Default', { offset: '-1' }, 3);
    expect(all.map((e) => String(e.body))).toEqual(['m1', 'm2', 'm3']);
    // sequence numbers grow by exactly 1 within a partition (scenario 6)
    expect(all.map((e) => e.sequenceNumber - all[0]!.sequenceNumber)).toEqual([0, 1, 2]);
    const group = `analytics-${Date.now()}`;
    expect((await iothub('hub', 'consumer-group', 'create', '-n', group)).code).toBe(0);
    expect((await iothub('hub', 'consumer-group', 'list')).json()).toEqual(expect.arrayContaining([expect.objectContaining({ name: '$Default' }), expect.objectContaining({ name: group })]));
    const other = await readGroup(group.toUpperCase(), { offset: '-1' }, 3);
    expect(other.map((e) => String(e.body))).toEqual(['m1', 'm2', 'm3']);
    // from the first message's offset, exclusive: the other two
    const after = await readGroup('$Default', { offset: all[0]!.offset, isInclusive: false }, 2);
    expect(after.map((e) => String(e.body))).toEqual(['m2', 'm3']);
    const bySeq = await readGroup('$Default', { sequenceNumber: all[1]!.sequenceNumber, isInclusive: true }, 2);
    expect(bySeq.map((e) => String(e.body))).toEqual(['m2', 'm3']);
  });

  it('refuses a consumer group that does not exist, and the CLI manages groups', async () => {
    const client = new EventHubConsumerClient('nosuchgroup', await ehConnectionString());
    const errors: Array<{ code?: string; message?: string }> = [];
    const sub = client.subscribe('0', { processEvents: async () => undefined, processError: async (err) => void errors.push(err as never) }, { startPosition: { offset: '-1' } });
    await poll(async () => errors.length, (n) => n > 0, 20_000, 'a subscription error');
    expect(errors[0]).toMatchObject({ code: 'MessagingEntityNotFoundError' });
    await sub.close();
    await client.close();
    const dup = `dup-${Date.now()}`;
    expect((await iothub('hub', 'consumer-group', 'create', '-n', dup)).code).toBe(0);
    const again = await iothub('hub', 'consumer-group', 'create', '-n', dup.toUpperCase());
    expect(again.code).not.toBe(0);
    expect(again.err).toMatch(/EntityAlreadyExists/);
    expect((await iothub('hub', 'consumer-group', 'create', '-n', 'bad name!')).err).toMatch(/ArgumentInvalid/);
    expect((await iothub('hub', 'consumer-group', 'delete', '-n', dup)).code).toBe(0);
    expect((await iothub('hub', 'consumer-group', 'delete', '-n', '$Default')).err).toMatch(/ArgumentInvalid/);
  });

  it('owner level: a higher epoch takes a partition from the reader that had it', async () => {
    const cs = await ehConnectionString();
    const first = new EventHubConsumerClient('$Default', cs);
    const second = new EventHubConsumerClient('$Default', cs);
    const firstErrors: Array<{ code?: string }> = [];
    const sub1 = first.subscribe('0', { processEvents: async () => undefined, processError: async (err) => void firstErrors.push(err as never) }, { ownerLevel: 1, startPosition: { offset: '@latest' } });
    await new Promise((r) => setTimeout(r, 1000));
    const secondErrors: Array<{ code?: string }> = [];
    const sub2 = second.subscribe('0', { processEvents: async () => undefined, processError: async (err) => void secondErrors.push(err as never) }, { ownerLevel: 2, startPosition: { offset: '@latest' } });
    await poll(async () => firstErrors.length, (n) => n > 0, 20_000, 'the first reader losing the partition');
    expect(firstErrors[0]).toMatchObject({ code: 'ReceiverDisconnectedError' });
    expect(secondErrors).toEqual([]);
    await sub1.close();
    await sub2.close();
    await first.close();
    await second.close();
  });
});
