import { describe, expect, it } from 'vitest';
import { Client as DeviceClient } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Registry } from 'azure-iothub';
import { uniqueName } from '@openiothub/testing';
import { createDevice, reportProperties } from './devices.js';
import { ownerConnectionString, poll } from './helpers.js';

// Scenario 18 (firmware update through an automatic device configuration) and the configuration
// lifecycle of scenario 19 with azure-iothub's Registry.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;
const registry = () => Registry.fromConnectionString(ownerConnectionString());

describe('automatic device configurations with azure-iothub (scenarios 18–19)', () => {
  it('firmware285: the device receives the firmware section, reports progress, and the metrics follow', async () => {
    const devicetype = uniqueName('chiller');
    const d = await createDevice('MyFirmwareUpdateDevice');
    await registry().updateTwin(d.deviceId, { tags: { devicetype } }, '*');
    const client = DeviceClient.fromConnectionString(d.connectionString, Mqtt);
    await client.open();
    try {
      const twin = await client.getTwin();
      await reportProperties(twin, { firmware: { currentFwVersion: '1.0.0', pendingFwVersion: '', fwUpdateStatus: 'current', fwUpdateSubstatus: '', lastFwUpdateStartTime: '', lastFwUpdateEndTime: '' } });
      const firmware = new Promise<Loose>((resolve) => twin.on('properties.desired.firmware', (fw: Loose) => fw?.['fwVersion'] && resolve(fw)));
      await twin.get(); // the desired subscription is in place before the configuration lands

      const id = uniqueName('firmware285');
      const status = (s: string) => `SELECT deviceId FROM devices WHERE configurations.[[${id}]].status='Applied' AND properties.reported.firmware.fwUpdateStatus='${s}'`;
      const firmwareConfig = {
        id,
        schemaVersion: '1.0',
        content: { deviceContent: { 'properties.desired.firmware': { fwVersion: '2.8.5', fwPackageURI: 'https://secureuri/package.bin', fwPackageCheckValue: '123456abcde' } } },
        metrics: {
          queries: {
            current: status('current'),
            applying: `SELECT deviceId FROM devices WHERE configurations.[[${id}]].status='Applied' AND (properties.reported.firmware.fwUpdateStatus='downloading' OR properties.reported.firmware.fwUpdateStatus='verifying' OR properties.reported.firmware.fwUpdateStatus='applying')`,
            rebooting: status('rebooting'),
            error: status('error'),
            rolledback: status('rolledback'),
          },
        },
        targetCondition: `tags.devicetype = '${devicetype}'`,
        priority: 20,
      };
      await registry().addConfiguration(firmwareConfig);
      expect(await firmware).toMatchObject({ fwVersion: '2.8.5', fwPackageURI: 'https://secureuri/package.bin' });

      await reportProperties(twin, { firmware: { pendingFwVersion: '2.8.5', fwUpdateStatus: 'downloading', lastFwUpdateStartTime: new Date().toISOString() } });
      const during = (await registry().getConfiguration(id)).responseBody as Loose;
      expect(during.systemMetrics.results).toEqual({ targetedCount: 1, appliedCount: 1 });
      expect(during.metrics.results).toEqual({ current: 0, applying: 1, rebooting: 0, error: 0, rolledback: 0 });

      await reportProperties(twin, { firmware: { currentFwVersion: '2.8.5', pendingFwVersion: '', fwUpdateStatus: 'current', lastFwUpdateEndTime: new Date().toISOString() } });
      const after = (await registry().getConfiguration(id)).responseBody as Loose;
      expect(after.metrics.results).toMatchObject({ current: 1, applying: 0 });
      expect(after).toMatchObject({ id, priority: 20, schemaVersion: '1.0', targetCondition: firmwareConfig.targetCondition });
    } finally {
      await client.close();
    }
  });

  it('updates the target condition, falls back on delete, lists, and applies content once to a device', async () => {
    const state = uniqueName('state');
    const wa = await createDevice('wa');
    const or = await createDevice('or');
    await registry().updateTwin(wa.deviceId, { tags: { location: { state: `${state}-Washington` } } }, '*');
    await registry().updateTwin(or.deviceId, { tags: { location: { state: `${state}-Oregon` } } }, '*');
    const id = uniqueName('chillersettingswashington');
    const fallbackId = uniqueName('fallback');
    await registry().addConfiguration({
      id: fallbackId,
      schemaVersion: '1.0',
      content: { deviceContent: { 'properties.desired.chillerWaterSettings': { temperature: 50, pressure: 50 } } },
      targetCondition: `tags.location.state = '${state}-Washington' OR tags.location.state = '${state}-Oregon'`,
      priority: 1,
    });
    await registry().addConfiguration({
      id,
      schemaVersion: '1.0',
      labels: { HostPlatform: 'Linux' },
      content: { deviceContent: { 'properties.desired.chillerWaterSettings': { temperature: 38, pressure: 78 } } },
      targetCondition: `tags.location.state='${state}-Washington'`,
      priority: 10,
    });
    const desired = async (deviceId: string) => ((await registry().getTwin(deviceId)).responseBody.properties.desired as Loose)['chillerWaterSettings'];
    await poll(async () => [(await desired(wa.deviceId))?.temperature, (await desired(or.deviceId))?.temperature], ([w, o]) => w === 38 && o === 50, 10_000, 'first application');

    const cfg = (await registry().getConfiguration(id)).responseBody;
    cfg.targetCondition = `tags.location.state='${state}-Oregon'`;
    await registry().updateConfiguration(cfg);
    await poll(async () => [(await desired(wa.deviceId))?.temperature, (await desired(or.deviceId))?.temperature], ([w, o]) => w === 50 && o === 38, 10_000, 'target moved');

    const listed = ((await registry().getConfigurations()).responseBody as Loose[]).map((c) => c.id);
    expect(listed).toEqual(expect.arrayContaining([id, fallbackId]));
    await registry().removeConfiguration(id);
    await poll(async () => (await desired(or.deviceId))?.temperature, (t) => t === 50, 10_000, 'fallback after delete');
    await expect(registry().getConfiguration(id)).rejects.toMatchObject({ responseBody: expect.stringContaining('ErrorCode:NotFound;') });
    await registry().removeConfiguration(fallbackId);

    await registry().applyConfigurationContentOnDevice(wa.deviceId, { deviceContent: { 'properties.desired.once': { value: 1 } } });
    expect((await registry().getTwin(wa.deviceId)).responseBody.properties.desired).toMatchObject({ once: { value: 1 } });
  });
});
