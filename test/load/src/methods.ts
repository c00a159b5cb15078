/**
 * `npm run bench:methods`: direct-method round trips per second with p50/p99, over DEVICES (1000)
 * devices connected to the first of two gateway processes: REST calls to the gateway holding the
 * device (answered in that process), and REST calls to the other gateway (over NATS to the holder);
 * beside a raw NATS request/reply loop with the same concurrency in the same run.
 * Env: DEVICES (1000), SECONDS (10), CONCURRENCY (50), RATE (5000: the paced phase's calls/s, the
 * target rate; its p99 is the latency at that rate rather than at saturation).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectNats } from '@openiothub/bus';
import { closedLoop, connectDevice, openLoop, inBatches, int, log, registerDevices, restClient, root, startBenchHub, urls } from './harness.js';
import { percentile, processUsage, table } from './stats.js';

const cfg = { devices: int('DEVICES', 1000), seconds: int('SECONDS', 10), concurrency: int('CONCURRENCY', 50), rate: int('RATE', 5000) };

async function rawNats() {
  const nc = await connectNats(urls.natsUrl, 'bench-methods-baseline');
  const subject = `bench.methods.${Date.now()}`;
  const sub = nc.subscribe(subject, { callback: (_e, m) => void m.respond(m.data) });
  await nc.flush();
  const r = await closedLoop(cfg.seconds, cfg.concurrency, async () => {
    await nc.request(subject, JSON.stringify({ methodName: 'ping', payload: { n: 1 } }), { timeout: 5000 });
  });
  sub.unsubscribe();
  await nc.close();
  return r;
}

async function main() {
  log(`bench:methods devices=${cfg.devices} seconds=${cfg.seconds} concurrency=${cfg.concurrency}`);
  const h = await startBenchHub({ twin: false, gateways: 2 });
  try {
    const ids = await registerDevices(h, cfg.devices);
    const clients = await inBatches(cfg.devices, 100, (i) => connectDevice(h, ids[i]!));
    for (const c of clients) {
      // answer every method at once, as a device's handler would
      c.on('message', (topic: string, payload: Buffer) => {
        const rid = /\$rid=([^&]+)/.exec(topic)?.[1];
        if (topic.startsWith('$iothub/methods/POST/') && rid) c.publish(`$iothub/methods/res/200/?$rid=${rid}`, payload, { qos: 0 });
      });
    }
    await inBatches(clients.length, 200, (i) => clients[i]!.subscribeAsync({ '$iothub/methods/POST/#': { qos: 0 } }));
    log(`${clients.length} devices connected and subscribed`);
    const token = await h.ownerToken();
    let rest = restClient(h, token);
    const call = async (i: number) => {
      const res = await rest.send('POST', `/twins/${ids[i % ids.length]}/methods`, { methodName: 'ping', payload: { n: i }, responseTimeoutInSeconds: 10 });
      if (res.status !== 200) throw new Error(`method ${res.status} ${res.body.slice(0, 200)}`);
    };
    await closedLoop(2, cfg.concurrency, call);
    const u0 = await processUsage(h.gatewayPid);
    const hub = await closedLoop(cfg.seconds, cfg.concurrency, call);
    const u1 = await processUsage(h.gatewayPid);
    log(`paced at ${cfg.rate}/s`);
    const paced = await openLoop(cfg.seconds, cfg.rate, call);
    const u2 = await processUsage(h.gatewayPid);
    rest.close();
    log('through the other gateway');
    rest = restClient(h, token, h.gateways[1]!.httpsPort);
    await closedLoop(1, cfg.concurrency, call);
    const [v0, w0] = await Promise.all([processUsage(h.gatewayPid), processUsage(h.gateways[1]!.pid)]);
    const remote = await closedLoop(cfg.seconds, cfg.concurrency, call);
    const [v1, w1] = await Promise.all([processUsage(h.gatewayPid), processUsage(h.gateways[1]!.pid)]);
    rest.close();
    await inBatches(clients.length, 200, (i) => clients[i]!.endAsync());
    log('measuring the NATS baseline');
    const baseline = await rawNats();
    const rate = (n: number) => Math.round(n / cfg.seconds);
    const rows = [
      { path: `method round trip: REST → the gateway holding the device → MQTT device → back (${cfg.concurrency} in flight, ${cfg.devices} devices)`, 'calls/s': rate(hub.count), 'p50 ms': percentile(hub.latencies, 50), 'p99 ms': percentile(hub.latencies, 99), 'gateway CPU %': ((u1.cpuSeconds - u0.cpuSeconds) / cfg.seconds) * 100, 'vs raw NATS': (hub.count / baseline.count).toFixed(2) },
      { path: `… paced at ${cfg.rate} calls/s (open loop, latency from each call's due time${paced.failed ? `, ${paced.failed} failed` : ''})`, 'calls/s': rate(paced.count), 'p50 ms': percentile(paced.latencies, 50), 'p99 ms': percentile(paced.latencies, 99), 'gateway CPU %': ((u2.cpuSeconds - u1.cpuSeconds) / cfg.seconds) * 100, 'vs raw NATS': '' },
      { path: `… REST → another gateway → NATS → the gateway holding the device → back (CPU: both gateways)`, 'calls/s': rate(remote.count), 'p50 ms': percentile(remote.latencies, 50), 'p99 ms': percentile(remote.latencies, 99), 'gateway CPU %': ((v1.cpuSeconds - v0.cpuSeconds + (w1.cpuSeconds - w0.cpuSeconds)) / cfg.seconds) * 100, 'vs raw NATS': (remote.count / baseline.count).toFixed(2) },
      { path: `raw NATS request/reply, responder in the load process (${cfg.concurrency} in flight)`, 'calls/s': rate(baseline.count), 'p50 ms': percentile(baseline.latencies, 50), 'p99 ms': percentile(baseline.latencies, 99), 'gateway CPU %': '', 'vs raw NATS': '1.00' },
    ];
    process.stdout.write(table('Direct methods (gateway, registry, NATS and the load generator share 2 vCPU)', rows));
    mkdirSync(join(root, '.data'), { recursive: true });
    writeFileSync(join(root, '.data', 'bench-methods.json'), JSON.stringify({ cfg, rows, at: new Date().toISOString() }, null, 2));
  } finally {
    await h.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
