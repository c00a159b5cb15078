/**
 * `npm run bench:dps`: device registrations per second end to end — MQTT/TLS connect as a DPS
 * client, register, wait the retry-after the service asks for, poll, assigned — with the device
 * identity and its initial twin created in one of two linked hubs. Beside it, in the same run, the
 * baseline: the same identities and twins created directly through the registry and twin gRPC APIs
 * (the least work a registration has to do), at the same concurrency.
 * Env: N (2000 registrations), CONCURRENCY (200 in flight), RETRY_AFTER (1 s, the smallest DPS allows).
 */
import mqtt from 'mqtt';
import { createSasToken, deriveDeviceKey, generateSymmetricKey } from '@openiothub/auth';
import { connectClient, provisioningV1, registryV1, twinV1 } from '@openiothub/proto';
import { int, log, startBenchHub, type BenchHub } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { n: int('N', 2000), concurrency: int('CONCURRENCY', 200), retryAfter: int('RETRY_AFTER', 1) };

interface Timing {
  /** connect → assigned (what a device waits) */
  readonly totalMs: number;
  /** register publish → 202: attestation, allocation, identity and twin in the hub, records stored */
  readonly registerMs: number;
}

/** One device registering over MQTT the way azure-iot-provisioning-device-mqtt does (sdk-compat §9.1). */
async function registerOnce(h: BenchHub, idScope: string, registrationId: string, key: string): Promise<Timing> {
  const t0 = performance.now();
  const password = createSasToken({ resourceUri: `${idScope}/registrations/${registrationId}`, key, keyName: 'registration', expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
  const c = await mqtt.connectAsync({ protocol: 'mqtts', host: 'localhost', port: h.mqttPort, ca: h.ca, protocolVersion: 4, clean: true, clientId: registrationId, username: `${idScope}/registrations/${registrationId}/api-version=2019-03-31`, password, reconnectPeriod: 0, keepalive: 180 });
  try {
    const answers = new Map<string, (a: { status: number; query: URLSearchParams; body: { operationId?: string; status?: string } }) => void>();
    c.on('message', (topic, payload) => {
      const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic);
      if (!m) return;
      const query = new URLSearchParams(m[2]);
      answers.get(query.get('$rid') ?? '')?.({ status: Number(m[1]), query, body: JSON.parse(payload.toString()) as { operationId?: string; status?: string } });
    });
    const ask = (rid: string, topic: string, body: string) =>
      new Promise<{ status: number; query: URLSearchParams; body: { operationId?: string; status?: string } }>((resolve) => {
        answers.set(rid, resolve);
        c.publish(topic, body, { qos: 1 });
      });
    await c.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const r0 = performance.now();
    const reg = await ask('1', '$dps/registrations/PUT/iotdps-register/?$rid=1', JSON.stringify({ registrationId, payload: { modelId: 'dtmi:com:example:Thermostat;1' } }));
    const registerMs = performance.now() - r0;
    if (reg.status !== 202 || !reg.body.operationId) throw new Error(`register answered ${reg.status} ${JSON.stringify(reg.body)}`);
    for (let rid = 2; ; rid += 1) {
      await new Promise((r) => setTimeout(r, Number(reg.query.get('retry-after') ?? 2) * 1000));
      const op = await ask(String(rid), `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${reg.body.operationId}`, ' ');
      if (op.body.status === 'assigned') break;
      if (op.body.status !== 'assigning') throw new Error(`registration ${registrationId} ended ${JSON.stringify(op.body)}`);
    }
    return { totalMs: performance.now() - t0, registerMs };
  } finally {
    await c.endAsync();
  }
}

/** Run fn(0..n-1) with `concurrency` always in flight (a new one starts as one ends). */
async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await fn(i);
    }),
  );
  return out;
}

async function main(): Promise<void> {
  log(`bench:dps — ${cfg.n} registrations, ${cfg.concurrency} at a time, retry-after ${cfg.retryAfter} s`);
  const h = await startBenchHub({ twin: true, provisioning: true, provisioningEnv: { DPS_RETRY_AFTER_SECONDS: String(cfg.retryAfter), DATABASE_POOL_SIZE: '20' } });
  const registry = connectClient(registryV1.RegistryServiceClient, registryV1.RegistryServiceService, `127.0.0.1:${h.registryGrpc}`);
  const twin = connectClient(twinV1.TwinServiceClient, twinV1.TwinServiceService, `127.0.0.1:${h.twinGrpc}`);
  const dps = connectClient(provisioningV1.ProvisioningServiceClient, provisioningV1.ProvisioningServiceService, `127.0.0.1:${h.provisioningGrpc}`);
  try {
    const second = `${h.hub}-2`;
    await registry.ensureHub({ hub: second });
    const { instance } = await dps.ensureInstance({
      name: h.hub,
      idScope: '',
      allocationPolicy: 'hashed',
      linkedHubs: [
        { hub: h.hub, hostName: 'localhost', allocationWeight: 1, applyAllocationPolicy: true },
        { hub: second, hostName: '127.0.0.2', allocationWeight: 1, applyAllocationPolicy: true },
      ],
    });
    const groupKey = generateSymmetricKey();
    const initialTwin = { tags: { fleet: 'bench' }, properties: { desired: { interval: 30 } } };
    await dps.putEnrollmentGroup({ instance: instance!.name, id: 'bench', json: JSON.stringify({ attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: groupKey } }, initialTwin }) });

    // baseline: the identity and twin writes alone, straight to the registry and twin services
    const baseIds = Array.from({ length: cfg.n }, (_, i) => `base-${String(i).padStart(6, '0')}`);
    const b0 = performance.now();
    const base = await pool(baseIds.length, cfg.concurrency, async (i) => {
      const t = performance.now();
      const deviceId = baseIds[i]!;
      const k = deriveDeviceKey(groupKey, deviceId);
      await registry.putDevice({ hub: h.hub, device: registryV1.Device.fromPartial({ deviceId, status: 'enabled', authentication: { type: 'sas', symmetricKey: { primaryKey: k, secondaryKey: k } } }) });
      await twin.importTwin({ key: { hub: h.hub, deviceId, moduleId: '' }, twinJson: JSON.stringify({ ...initialTwin, modelId: 'dtmi:com:example:Thermostat;1' }) });
      return performance.now() - t;
    });
    const baseSeconds = (performance.now() - b0) / 1000;

    const ids = Array.from({ length: cfg.n }, (_, i) => `dps-${String(i).padStart(6, '0')}`);
    const before = await Promise.all([h.gatewayPid, h.provisioningPid!].map((pid) => processUsage(pid)));
    const d0 = performance.now();
    const timings = await pool(ids.length, cfg.concurrency, (i) => registerOnce(h, instance!.idScope, ids[i]!, deriveDeviceKey(groupKey, ids[i]!)));
    const dpsSeconds = (performance.now() - d0) / 1000;
    const after = await Promise.all([h.gatewayPid, h.provisioningPid!].map((pid) => processUsage(pid)));

    // every registration left a device in one of the two hubs
    let created = 0;
    for (const hub of [h.hub, second]) {
      for (let after = ''; ; ) {
        const page = (await registry.listDevices({ hub, top: 1000, afterDeviceId: after })).devices;
        created += page.filter((d) => d.deviceId.startsWith('dps-')).length;
        if (page.length < 1000) break;
        after = page[page.length - 1]!.deviceId;
      }
    }
    if (created !== cfg.n) throw new Error(`${created} of ${cfg.n} registrations left a device identity`);

    const ms = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const total = ms(timings.map((t) => t.totalMs));
    const reg = ms(timings.map((t) => t.registerMs));
    const baseSorted = ms(base);
    process.stdout.write(
      table(`bench:dps — ${cfg.n} devices, ${cfg.concurrency} in flight (identities verified: ${created})`, [
        { path: 'DPS over MQTT: connect → register → poll → assigned', 'per second': cfg.n / dpsSeconds, 'p50 ms': percentile(total, 50), 'p99 ms': percentile(total, 99) },
        { path: '  of which register → 202 (allocation, identity, twin)', 'per second': '', 'p50 ms': percentile(reg, 50), 'p99 ms': percentile(reg, 99) },
        { path: `  of which the retry-after wait the protocol asks for`, 'per second': '', 'p50 ms': cfg.retryAfter * 1000, 'p99 ms': cfg.retryAfter * 1000 },
        { path: 'baseline: registry PutDevice + twin import over gRPC', 'per second': cfg.n / baseSeconds, 'p50 ms': percentile(baseSorted, 50), 'p99 ms': percentile(baseSorted, 99) },
      ]) +
        table('process cost during the DPS run', [
          { process: 'gateway', 'CPU s': after[0]!.cpuSeconds - before[0]!.cpuSeconds, 'RSS MB': after[0]!.rssBytes / 2 ** 20 },
          { process: 'provisioning', 'CPU s': after[1]!.cpuSeconds - before[1]!.cpuSeconds, 'RSS MB': after[1]!.rssBytes / 2 ** 20 },
        ]),
    );
  } finally {
    registry.close();
    twin.close();
    dps.close();
    await h.stop();
  }
}

await main();
