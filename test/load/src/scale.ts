/**
 * `npm run bench:scale`: telemetry throughput with 1, 2 and 3 gateway processes on this host, per
 * gateway CPU-second efficiency, and the capacity model's inputs (docs/scaling.md): gateway and
 * routing CPU per message, gateway memory per connection — beside raw JetStream measured in the
 * same run.
 *
 * Registry, routing and up to three gateways run as processes from the build; the load generator
 * (mqtt.js devices spread round robin over the gateways in use, each keeping IN_FLIGHT QoS 1
 * publishes outstanding) runs here. Env: DEVICES (120), IN_FLIGHT (10), SECONDS (10), IDLE
 * connections for the memory measure (1000), PAYLOAD bytes (256), GATEWAYS (3).
 */
import { connectDevice, inBatches, int, log, registerDevices, schedule, startBenchHub } from './harness.js';
import { jetStreamBaselines } from './jetstream-baseline.js';
import { percentile, processUsage, table } from './stats.js';
import type { MqttClient } from 'mqtt';

const cfg = { devices: int('DEVICES', 120), inFlight: int('IN_FLIGHT', 10), seconds: int('SECONDS', 10), idle: int('IDLE', 1000), payload: int('PAYLOAD', 256), gateways: int('GATEWAYS', 3) };
const payload = Buffer.alloc(cfg.payload, 'x');

async function drive(clients: MqttClient[], seconds: number) {
  const latencies: number[] = [];
  let acked = 0;
  await schedule(clients, { seconds, inFlight: cfg.inFlight }, (c, after) => {
    const t = performance.now();
    c.publish(`devices/${c.options.clientId as string}/messages/events/`, payload, { qos: 1 }, (err) => {
      if (!err) {
        acked++;
        latencies.push(performance.now() - t);
      }
      after();
    });
  });
  latencies.sort((a, b) => a - b);
  return { acked, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const cpu = async (pids: readonly number[]) => (await Promise.all(pids.map((p) => processUsage(p)))).reduce((a, u) => a + u.cpuSeconds, 0);

async function main() {
  log(`bench:scale  devices=${cfg.devices} inFlight=${cfg.inFlight} seconds=${cfg.seconds} idle=${cfg.idle} payload=${cfg.payload}B gateways=1..${cfg.gateways}`);
  const h = await startBenchHub({ twin: false, routing: true, gateways: cfg.gateways });
  try {
    const ids = await registerDevices(h, Math.max(cfg.devices, cfg.idle));

    // memory per connection: idle devices on the first gateway, RSS before and after
    await new Promise((r) => setTimeout(r, 2000));
    const before = await processUsage(h.gatewayPid);
    const idle = await inBatches(cfg.idle, 100, (i) => connectDevice(h, ids[i]!, 300));
    await new Promise((r) => setTimeout(r, 2000));
    const after = await processUsage(h.gatewayPid);
    await inBatches(idle.length, 200, (i) => idle[i]!.endAsync());
    const kbPerConnection = (after.rssBytes - before.rssBytes) / 1024 / cfg.idle;

    const rows: Array<Record<string, string | number>> = [];
    let oneGateway = 0;
    let gatewayUsPerMsg = 0;
    let routingUsPerMsg = 0;
    for (let n = 1; n <= cfg.gateways; n += 1) {
      const used = h.gateways.slice(0, n);
      const clients = await inBatches(cfg.devices, 50, (i) => connectDevice(h, ids[i]!, 60, used[i % n]!.mqttPort));
      await drive(clients, 2); // warm-up
      const pids = used.map((g) => g.pid);
      const [g0, r0, t0] = [await cpu(pids), await cpu([h.routingPid!]), performance.now()];
      const run = await drive(clients, cfg.seconds);
      const [g1, r1, wall] = [await cpu(pids), await cpu([h.routingPid!]), (performance.now() - t0) / 1000];
      await Promise.all(clients.map((c) => c.endAsync()));
      const rate = run.acked / cfg.seconds;
      if (n === 1) {
        oneGateway = rate;
        gatewayUsPerMsg = ((g1 - g0) / run.acked) * 1e6;
        routingUsPerMsg = ((r1 - r0) / run.acked) * 1e6;
      }
      rows.push({
        gateways: n,
        'msg/s': Math.round(rate),
        'vs 1 gateway': (rate / oneGateway).toFixed(2),
        'p50 ms': run.p50.toFixed(1),
        'p99 ms': run.p99.toFixed(1),
        'gateway CPU %': Math.round(((g1 - g0) / wall) * 100),
        'routing CPU %': Math.round(((r1 - r0) / wall) * 100),
        'msg per gateway CPU-s': Math.round(run.acked / (g1 - g0)),
      });
      log(`${n} gateway(s): ${Math.round(rate)} msg/s`);
    }
    const base = await jetStreamBaselines(50_000, payload);
    process.stdout.write(table(`telemetry (MQTT QoS 1, ${cfg.devices} devices × ${cfg.inFlight} in flight, ${cfg.payload} B) by gateway processes — 2 vCPU shared by every process`, rows));
    process.stdout.write(table('baseline in the same run', base));
    process.stdout.write(
      table('capacity model inputs (docs/scaling.md)', [
        { input: 'gateway CPU per telemetry message (1 gateway, saturated)', value: `${gatewayUsPerMsg.toFixed(0)} µs` },
        { input: 'routing CPU per telemetry message (built-in endpoint only)', value: `${routingUsPerMsg.toFixed(0)} µs` },
        { input: 'gateway memory per idle MQTT/TLS connection', value: `${kbPerConnection.toFixed(1)} KB` },
        { input: 'NATS operations per telemetry message', value: '6 (ingest publish + ack, routing fetch + ack, built-in publish + ack)' },
        { input: 'Postgres statements per telemetry message', value: '0 (lastActivityTime batched every 5 s per device)' },
      ]),
    );
  } finally {
    await h.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(String((err as Error).stack ?? err));
    process.exit(1);
  },
);
