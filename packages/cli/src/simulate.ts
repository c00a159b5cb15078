import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import type { Command } from 'commander';
import mqtt, { type MqttClient } from 'mqtt';
import { createSasToken, parseServiceConnectionString } from '@openiothub/auth';
import type { HubRestClient } from './rest-client.js';

/** What a simulation run did (printed as the summary). */
export interface SimulationSummary {
  devices: number;
  connected: number;
  seconds: number;
  telemetrySent: number;
  telemetryAcknowledged: number;
  'telemetry msg/s': number;
  'ack p50 ms': number;
  'ack p99 ms': number;
  methodsAnswered: number;
  desiredPatchesAcknowledged: number;
  disconnects: number;
  errors: number;
}

interface Options {
  devices: string;
  prefix: string;
  interval: string;
  duration: string;
  ramp: string;
  payload: string;
  mqttPort: string;
  keep?: boolean;
  json?: boolean;
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

/**
 * `iothub simulate`: N devices over MQTT/TLS with SAS tokens, registered in bulk (and removed
 * afterwards unless --keep), connecting evenly over a ramp, each sending QoS 1 telemetry every
 * interval, answering every direct method (200, the request echoed) and acknowledging every
 * desired patch with a reported patch. A progress line while it runs (stderr), a summary at the end.
 * Runs against the local hub or any address the connection string names.
 */
export function addSimulateCommand(program: Command, deps: { rest: () => HubRestClient; connection: () => { connectionString: string; caCertPath: string | undefined }; print: (v: unknown) => void; progress: (line: string, final: boolean) => void; signal?: AbortSignal }): void {
  program
    .command('simulate')
    .description('simulated devices (MQTT/TLS, SAS) sending telemetry, answering methods and desired patches; a progress line, then a summary')
    .option('-n, --devices <n>', 'devices', '100')
    .option('--prefix <prefix>', 'device id prefix (devices are {prefix}-{i})', 'sim')
    .option('--interval <ms>', 'telemetry interval per device', '1000')
    .option('--duration <s>', 'seconds of telemetry after the ramp', '30')
    .option('--ramp <s>', 'seconds over which the devices connect', '5')
    .option('--payload <bytes>', 'telemetry payload size', '256')
    .option('--mqtt-port <port>', 'MQTT/TLS port of the hub', '8883')
    .option('--keep', 'keep the devices afterwards')
    .option('--json', 'print the summary as JSON')
    .action(async (o: Options) => {
      const summary = await simulate(o, deps);
      deps.print(o.json ? summary : formatSummary(summary));
    });
}

async function simulate(o: Options, deps: Parameters<typeof addSimulateCommand>[1]): Promise<SimulationSummary> {
  const n = Number(o.devices);
  const interval = Number(o.interval);
  const rest = deps.rest();
  const { connectionString, caCertPath } = deps.connection();
  const hostName = parseServiceConnectionString(connectionString).hostName;
  const ids = Array.from({ length: n }, (_, i) => `${o.prefix}-${i}`);
  // every device's key is derived from one random secret, so none has to be read back
  const secret = randomBytes(32);
  const keyOf = (id: string) => createHmac('sha256', secret).update(id).digest('base64');
  for (let i = 0; i < n; i += 100) {
    const batch = ids.slice(i, i + 100).map((id) => ({ id, importMode: 'createOrUpdate', status: 'enabled', authentication: { type: 'sas', symmetricKey: { primaryKey: keyOf(id), secondaryKey: keyOf(id) } } }));
    await rest.send('POST', '/devices', batch);
  }

  const ca = caCertPath ? [...rootCertificates, readFileSync(caCertPath, 'utf8')] : undefined;
  const host = hostName.split(':')[0]!;
  const stats = { connected: 0, sent: 0, acked: 0, methods: 0, desired: 0, disconnects: 0, errors: 0 };
  let ending = false;
  const latencies: number[] = [];
  const clients: MqttClient[] = [];
  const timers: NodeJS.Timeout[] = [];
  const started = Date.now();
  const rampMs = Number(o.ramp) * 1000;
  const endAt = started + rampMs + Number(o.duration) * 1000;
  const payload = 'x'.repeat(Math.max(0, Number(o.payload) - 40));

  const progress = setInterval(() => deps.progress(progressLine(stats, n, started), false), 1000);
  try {
    await Promise.all(
      ids.map(async (id, i) => {
        await new Promise((r) => setTimeout(r, n > 1 ? Math.floor((rampMs * i) / n) : 0));
        if (deps.signal?.aborted) return;
        const c = mqtt.connect({
          protocol: 'mqtts',
          host,
          port: Number(o.mqttPort),
          ...(ca ? { ca } : {}),
          servername: host,
          clientId: id,
          username: `${hostName}/${id}/?api-version=2021-04-12`,
          password: createSasToken({ resourceUri: `${hostName}/devices/${id}`, key: keyOf(id), expiry: Math.floor(endAt / 1000) + 3600 }),
          protocolVersion: 4,
          clean: true,
          reconnectPeriod: 1000,
          keepalive: 60,
        });
        clients.push(c);
        c.on('error', () => void (stats.errors += 1));
        // a connection lost before the end (the client reconnects by itself)
        c.on('close', () => void (ending || (stats.disconnects += 1)));
        c.on('connect', () => {
          stats.connected += 1;
          c.subscribe({ '$iothub/methods/POST/#': { qos: 0 }, '$iothub/twin/PATCH/properties/desired/#': { qos: 0 }, '$iothub/twin/res/#': { qos: 0 } });
        });
        let rid = 0;
        c.on('message', (topic, body) => {
          const method = /^\$iothub\/methods\/POST\/[^/]+\/\?\$rid=(.+)$/.exec(topic);
          if (method) {
            c.publish(`$iothub/methods/res/200/?$rid=${method[1]}`, body.length > 0 ? body : 'null');
            stats.methods += 1;
          } else if (topic.startsWith('$iothub/twin/PATCH/properties/desired/')) {
            // acknowledge as a device does: report back what it applied
            const version = /\$version=(\d+)/.exec(topic)?.[1];
            c.publish(`$iothub/twin/PATCH/properties/reported/?$rid=sim${(rid += 1)}`, JSON.stringify({ simulator: { appliedDesiredVersion: Number(version) } }));
            stats.desired += 1;
          }
        });
        await new Promise<void>((r) => (c.connected ? r() : c.once('connect', () => r())));
        let seq = 0;
        const tick = () => {
          if (Date.now() >= endAt || deps.signal?.aborted || !c.connected) return;
          const t = performance.now();
          stats.sent += 1;
          c.publish(`devices/${id}/messages/events/`, JSON.stringify({ seq: (seq += 1), t: Date.now(), payload }), { qos: 1 }, (err) => {
            if (err) stats.errors += 1;
            else {
              stats.acked += 1;
              latencies.push(performance.now() - t);
            }
          });
        };
        timers.push(setInterval(tick, interval));
      }),
    );
    while (Date.now() < endAt && !deps.signal?.aborted) await new Promise((r) => setTimeout(r, 200));
    for (const t of timers) clearInterval(t);
    // let the last acknowledgements arrive
    const drain = Date.now() + 5000;
    while (stats.acked + stats.errors < stats.sent && Date.now() < drain) await new Promise((r) => setTimeout(r, 100));
  } finally {
    clearInterval(progress);
    for (const t of timers) clearInterval(t);
    ending = true;
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }
  deps.progress(progressLine(stats, n, started), true);
  if (!o.keep) {
    for (let i = 0; i < n; i += 100) await rest.send('POST', '/devices', ids.slice(i, i + 100).map((id) => ({ id, importMode: 'delete' })));
  }
  latencies.sort((a, b) => a - b);
  const seconds = Math.max(0.001, (Math.min(Date.now(), endAt) - started - rampMs) / 1000);
  return {
    devices: n,
    connected: Math.min(n, stats.connected - stats.disconnects),
    seconds: Math.round(seconds * 10) / 10,
    telemetrySent: stats.sent,
    telemetryAcknowledged: stats.acked,
    'telemetry msg/s': Math.round(stats.acked / ((endAt - started) / 1000)),
    'ack p50 ms': Math.round(percentile(latencies, 50) * 10) / 10,
    'ack p99 ms': Math.round(percentile(latencies, 99) * 10) / 10,
    methodsAnswered: stats.methods,
    desiredPatchesAcknowledged: stats.desired,
    disconnects: stats.disconnects,
    errors: stats.errors,
  };
}

/** `[#####-----] 60/100 connected  sent 1,200  acked 1,198  412 msg/s  errors 0` */
function progressLine(s: { connected: number; sent: number; acked: number; errors: number }, n: number, started: number): string {
  const width = 20;
  const filled = Math.round((Math.min(s.connected, n) / Math.max(1, n)) * width);
  const rate = Math.round(s.acked / Math.max(0.001, (Date.now() - started) / 1000));
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.min(s.connected, n)}/${n} connected  sent ${s.sent.toLocaleString('en-US')}  acked ${s.acked.toLocaleString('en-US')}  ${rate} msg/s  errors ${s.errors}`;
}

function formatSummary(s: SimulationSummary): string {
  const rows = Object.entries(s).map(([k, v]) => [k, typeof v === 'number' ? v.toLocaleString('en-US') : String(v)] as const);
  const w = Math.max(...rows.map(([k]) => k.length));
  return ['simulation summary', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}
