import { describe, expect, it } from 'vitest';
import { EventHubClient, EventPosition } from 'event-hubs-v2';
import { Client as DeviceClient, Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { createDevice } from './devices.js';
import { ownerConnectionString, poll } from './helpers.js';

/**
 * Scenario 6 as the 2019 quickstart wrote it: `@azure/event-hubs` 2.x reads the hub with the
 * IoT Hub connection string (it asks the hub on 5671, follows the redirect to the Event
 * Hubs-compatible endpoint) and prints body, application properties and annotations.
 */
describe('scenario 6 with the 2019 reader (@azure/event-hubs 2.x createFromIotHubConnectionString)', () => {
  it('reads telemetry from every partition from now on, with IoT Hub system properties', async () => {
    const client = await EventHubClient.createFromIotHubConnectionString(ownerConnectionString());
    const ids = await client.getPartitionIds();
    expect(ids).toEqual(['0', '1', '2', '3']);
    const seen: Array<{ body: unknown; applicationProperties?: Record<string, unknown>; annotations?: Record<string, unknown> }> = [];
    const receivers = ids.map((id) =>
      client.receive(id, (m) => void seen.push(m as never), () => undefined, { eventPosition: EventPosition.fromEnqueuedTime(Date.now()) }),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const d = await createDevice('legacy6');
    const device = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    const m = new Message(JSON.stringify({ temperature: 31.5, humidity: 70 }));
    m.properties.add('temperatureAlert', 'true');
    await device.sendEvent(m);
    await device.sendEvent(new Message(JSON.stringify({ temperature: 21, humidity: 61 })));
    await device.close();
    const mine = () => seen.filter((e) => e.annotations?.['iothub-connection-device-id'] === d.deviceId);
    await poll(async () => mine().length, (n) => n === 2, 20_000, 'both events');
    const [first, second] = mine();
    expect(first!.body).toEqual({ temperature: 31.5, humidity: 70 });
    expect(first!.applicationProperties).toEqual({ temperatureAlert: 'true' });
    expect(first!.annotations).toMatchObject({
      'iothub-connection-auth-method': '{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}',
      'iothub-message-source': 'Telemetry',
      'x-opt-offset': expect.any(String),
    });
    // one device, one partition: consecutive sequence numbers
    expect(Number(second!.annotations!['x-opt-sequence-number'])).toBe(Number(first!.annotations!['x-opt-sequence-number']) + 1);
    for (const r of receivers) await r.stop();
    await client.close();
  });
});
