import { readFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { Client as DeviceClient, Message, type Twin } from 'azure-iot-device';
import { Amqp } from 'azure-iot-device-amqp';
import { Http } from 'azure-iot-device-http';
import { Mqtt } from 'azure-iot-device-mqtt';
import { Client as ServiceClient, JobClient, Registry } from 'azure-iothub';
import { EventHubConsumerClient, earliestEventPosition, type ReceivedEventData } from '@azure/event-hubs';
import { connectNats, followD2C } from '@openiothub/bus';
import { createSasToken, deviceConnectionString, eventHubsConnectionString, parseServiceConnectionString } from '@openiothub/auth';
import { grpc, promiseClient, registryV1 } from '@openiothub/proto';
import { openStream, serveStreams } from '@openiothub/stream-client';
import { testUrls, uniqueName } from '@openiothub/testing';
import { LAYOUT, startScaleCluster, type ScaleCluster } from './cluster.js';

// Scale-out proof (ARCHITECTURE "Deployment"): 3 gateway, 2 registry, 2 twin, 2 messaging,
// 2 routing, 2 jobs and 2 streams processes from the build on one host, sharing one Postgres,
// NATS and Redis, behind a TCP round robin on 443/8883/5671. First every capability is used with
// the Microsoft SDKs, landing on different processes; then, under a D2C + C2D + method load, every
// process is killed (-9) and started again, one after another, and every acknowledged message
// is looked for afterwards.

let cluster: ScaleCluster;
beforeAll(async () => {
  cluster = await startScaleCluster();
}, 120_000);
afterAll(async () => {
  await cluster?.stop();
}, 60_000);

const registry = () => Registry.fromConnectionString(cluster.ownerConnectionString);

async function createDevice(prefix: string): Promise<{ deviceId: string; key: string; connectionString: string }> {
  const deviceId = uniqueName(prefix);
  const { responseBody } = await registry().create({ deviceId, status: 'enabled' });
  const key = responseBody.authentication!.symmetricKey!.primaryKey!;
  return { deviceId, key, connectionString: deviceConnectionString({ hostName: cluster.hostName, deviceId, sharedAccessKey: key }) };
}

const waitUntil = async (ok: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

describe('scale-out: every capability works whichever process a request lands on', () => {
  it('registry, telemetry (Mqtt, Amqp, Http) read through Event Hubs, C2D, twins, methods, jobs and device streams', async () => {
    const service = ServiceClient.fromConnectionString(cluster.ownerConnectionString);
    await service.open();
    const svcPolicy = await policy('service');
    const eh = new EventHubConsumerClient('$Default', eventHubsConnectionString({ hostName: cluster.hostName, amqpPort: 5671, keyName: 'service', key: svcPolicy, hub: cluster.hub }));
    const events: ReceivedEventData[] = [];
    const sub = eh.subscribe({ processEvents: async (e) => void events.push(...e), processError: async () => undefined }, { startPosition: earliestEventPosition, maxWaitTimeInSeconds: 1 });
    const transports = [Mqtt, Amqp, Http, Mqtt, Amqp, Http, Mqtt, Amqp, Http];
    const ids: string[] = [];
    try {
      for (const [i, Transport] of transports.entries()) {
        const d = await createDevice(`cap${i}`);
        ids.push(d.deviceId);
        const client = DeviceClient.fromConnectionString(d.connectionString, Transport);
        await client.open();
        try {
          // telemetry, read back from the built-in endpoint (Event Hubs over AMQP, through the proxy)
          await client.sendEvent(new Message(JSON.stringify({ i, deviceId: d.deviceId })));
          await waitUntil(() => events.some((e) => e.systemProperties?.['iothub-connection-device-id'] === d.deviceId), 30_000, `telemetry of ${d.deviceId}`);
          // C2D (service over AMQP, perhaps through another gateway)
          const received = new Promise<string>((resolve) => client.on('message', (m: Message) => void client.complete(m, () => resolve(String(m.data)))));
          await service.send(d.deviceId, new Message(`c2d-${i}`));
          expect(await received).toBe(`c2d-${i}`);
          if (Transport !== Http) {
            // twin: desired from the service reaches the device; reported from the device reaches the service
            const twin = (await client.getTwin()) as unknown as Twin;
            const desired = new Promise<number>((resolve) => twin.on('properties.desired', (p: { round?: number }) => p.round === i && resolve(p.round)));
            const svcTwin = (await registry().getTwin(d.deviceId)).responseBody;
            await svcTwin.update({ properties: { desired: { round: i } } });
            expect(await desired).toBe(i);
            await new Promise<void>((resolve, reject) => twin.properties.reported.update({ seen: i }, (err?: Error) => (err ? reject(err) : resolve())));
            expect(((await registry().getTwin(d.deviceId)).responseBody.properties.reported as { seen?: number }).seen).toBe(i);
            // a direct method invoked through any gateway reaches the gateway holding the device
            client.onDeviceMethod('echo', (req, res) => void res.send(200, { echo: req.payload }));
            for (let k = 0; k < 3; k += 1) {
              const r = await service.invokeDeviceMethod(d.deviceId, { methodName: 'echo', payload: { k }, responseTimeoutInSeconds: 10 });
              expect(r.result).toEqual({ status: 200, payload: { echo: { k } } });
            }
          }
        } finally {
          await client.close();
        }
      }
      // a twin-update job over the devices, run by whichever jobs process takes it
      const jobId = uniqueName('job');
      const jobs = JobClient.fromConnectionString(cluster.ownerConnectionString);
      await jobs.scheduleTwinUpdate(jobId, `deviceId IN [${ids.map((id) => `'${id}'`).join(', ')}]`, { etag: '*', tags: { fleet: 'scaled' } } as never, new Date(), 3600);
      let status = '';
      for (let t = 0; t < 100 && status !== 'completed'; t += 1) {
        status = String(((await jobs.getJob(jobId)) as { jobStatus: { status: string } }).jobStatus.status);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(status).toBe('completed');
      // counted by whichever jobs process completed it (Azure's jobs.completed)
      const jobsCompleted = await Promise.all(
        cluster.members.filter((m) => m.service === 'jobs').map(async (m) => Number(new RegExp(`^iothub_jobs_completed_total\\{hub="${cluster.hub}"\\} (\\d+)$`, 'm').exec(await m.proc!.metrics())?.[1] ?? 0)),
      );
      expect(jobsCompleted.reduce((a, b) => a + b, 0)).toBe(1);
      const tagged = await registry().createQuery("SELECT * FROM devices WHERE tags.fleet = 'scaled'", 100).nextAsTwin();
      expect(tagged.result.length).toBe(transports.length);
    } finally {
      await sub.close();
      await eh.close();
      await service.close();
    }
    // device streams: the device answers over MQTT, both sides meet at whichever relay the stream was made on
    for (let k = 0; k < 3; k += 1) {
      const d = await createDevice(`stream${k}`);
      const device = await mqtt.connectAsync({ protocol: 'mqtts', host: 'localhost', port: 8883, ca: readFileSync(cluster.caCertPath), clientId: d.deviceId, username: `${cluster.hostName}/${d.deviceId}/?api-version=2021-04-12`, password: createSasToken({ resourceUri: `${cluster.hostName}/devices/${d.deviceId}`, key: d.key, expiry: Math.floor(Date.now() / 1000) + 3600 }), protocolVersion: 4, reconnectPeriod: 0 });
      await serveStreams(device, () => true, (req) => void openStream(req.url, req.authorizationToken, { ca: readFileSync(cluster.caCertPath) }).then((sock) => sock.pipe(sock)));
      const owner = parseServiceConnectionString(cluster.ownerConnectionString);
      const token = createSasToken({ resourceUri: cluster.hostName, key: owner.sharedAccessKey, keyName: owner.sharedAccessKeyName, expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
      const res = await fetch(`https://localhost/twins/${d.deviceId}/streams/echo?api-version=2021-04-12`, { method: 'POST', headers: { authorization: token, 'content-type': 'application/json' }, body: JSON.stringify({ responseTimeoutInSeconds: 10 }) });
      const created = (await res.json()) as { isAccepted: boolean; uri: string; authorizationToken: string };
      expect(created.isAccepted).toBe(true);
      const sock = await openStream(created.uri, created.authorizationToken, { ca: readFileSync(cluster.caCertPath) });
      const echoed = new Promise<string>((resolve) => sock.once('data', (b: Buffer) => resolve(b.toString())));
      sock.write(`hello ${k}`);
      expect(await echoed).toBe(`hello ${k}`);
      sock.destroy();
      await device.endAsync(true);
    }

    // every C2D message was completed, counted by whichever messaging process settled it (Azure's metric names)
    const completed = await Promise.all(
      cluster.members.filter((m) => m.service === 'messaging').map(async (m) => Number(new RegExp(`^iothub_c2d_commands_egress_complete_success_total\\{hub="${cluster.hub}"\\} (\\d+)$`, 'm').exec((await m.proc!.metrics()))?.[1] ?? 0)),
    );
    expect(completed.reduce((a, b) => a + b, 0)).toBe(transports.length);
    // a registry read through each gateway: three new HTTPS connections in a row (the SDKs' REST
    // calls share keep-alive connections, so they may not have reached all three)
    const owner = parseServiceConnectionString(cluster.ownerConnectionString);
    const auth = createSasToken({ resourceUri: cluster.hostName, key: owner.sharedAccessKey, keyName: owner.sharedAccessKeyName, expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
    for (let k = 0; k < cluster.gateways.length; k += 1) {
      const status = await new Promise<number>((resolve, reject) =>
        httpsGet({ host: 'localhost', port: 443, path: `/devices/${ids[k]}?api-version=2021-04-12`, headers: { authorization: auth }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).once('error', reject),
      );
      expect(status).toBe(200);
    }
    // the round robin spread connections over every gateway process on every port
    for (const g of cluster.gateways) for (const port of [g.https, g.mqtt, g.amqp]) expect(cluster.proxy.counts.get(port) ?? 0, `gateway port ${port}`).toBeGreaterThan(0);
  });
});

async function policy(keyName: string): Promise<string> {
  const port = /127\.0\.0\.1:(\d+)/.exec(cluster.members.find((m) => m.name === 'gateway-0')!.env['REGISTRY_GRPC_URL']!)![1];
  const c = new registryV1.RegistryServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    return (await promiseClient(c, registryV1.RegistryServiceService).getPolicy({ hub: cluster.hub, keyName })).policy!.primaryKey;
  } finally {
    c.close();
  }
}

describe('scale-out: a rolling restart under load', () => {
  it('kill -9 and restart of every process, one by one, during D2C + C2D + method load: no acknowledged message is lost', async () => {
    const DEVICES = Number(process.env['SCALE_DEVICES'] ?? 12);
    const owner = parseServiceConnectionString(cluster.ownerConnectionString);
    const ownerToken = () => createSasToken({ resourceUri: cluster.hostName, key: owner.sharedAccessKey, keyName: owner.sharedAccessKeyName, expiry: Math.floor(Date.now() / 1000) + 3600, encode: false });
    const ca = readFileSync(cluster.caCertPath);
    const devices = await Promise.all(Array.from({ length: DEVICES }, () => createDevice('load')));
    const ackedD2C = new Set<string>();
    const ackedC2D = new Set<string>();
    const receivedC2D = new Set<string>();
    const methods = { ok: 0, failed: 0 };
    const sent = { d2c: 0, c2d: 0 };
    let refusedConnacks = 0;
    let running = true;

    // devices: raw mqtt.js clients that reconnect through the proxy (to whichever gateway is up), persistent sessions
    const clients: MqttClient[] = devices.map((d) => {
      const c = mqtt.connect({
        protocol: 'mqtts',
        host: 'localhost',
        port: 8883,
        ca,
        clientId: d.deviceId,
        username: `${cluster.hostName}/${d.deviceId}/?api-version=2021-04-12`,
        password: createSasToken({ resourceUri: `${cluster.hostName}/devices/${d.deviceId}`, key: d.key, expiry: Math.floor(Date.now() / 1000) + 3600 }),
        protocolVersion: 4,
        clean: false,
        reconnectPeriod: 300,
        // like the Azure SDKs' retry policy: a CONNACK refused while a back end restarts (3, server
        // unavailable) is retried; mqtt.js 5 otherwise stops reconnecting, and the messages queued
        // for that device wait for a device that never comes back
        reconnectOnConnackError: true,
        connectTimeout: 5000,
        keepalive: 30,
      });
      c.on('error', (err: Error & { code?: unknown }) => {
        if (typeof err.code === 'number') refusedConnacks += 1; // a CONNACK refusal (socket errors have string codes)
      });
      c.on('connect', () => void c.subscribe({ [`devices/${d.deviceId}/messages/devicebound/#`]: { qos: 1 }, '$iothub/methods/POST/#': { qos: 0 } }, () => undefined));
      c.on('message', (topic, payload) => {
        if (topic.startsWith('$iothub/methods/POST/')) {
          const rid = /\$rid=([^&]+)/.exec(topic)?.[1];
          if (rid) c.publish(`$iothub/methods/res/200/?$rid=${rid}`, payload);
        } else receivedC2D.add(payload.toString());
      });
      return c;
    });
    await waitUntil(() => clients.every((c) => c.connected), 30_000, 'devices connected');
    const nc = await connectNats(testUrls().natsUrl, 'scale-reader');
    const stored = new Set<string>();
    const ac = new AbortController();
    const reading = followD2C(nc, cluster.hub, (m) => {
      try {
        stored.add((JSON.parse(Buffer.from(m.body).toString()) as { id: string }).id);
      } catch {
        /* a capability-test message */
      }
    }, ac.signal);
    await nc.flush();
    await new Promise((r) => setTimeout(r, 500));

    const telemetry = (async () => {
      let seq = 0;
      while (running) {
        for (const [i, c] of clients.entries()) {
          if (!c.connected) continue;
          const id = `${devices[i]!.deviceId}:${seq}`;
          sent.d2c += 1;
          c.publish(`devices/${devices[i]!.deviceId}/messages/events/`, JSON.stringify({ id }), { qos: 1 }, (err) => void (err ? undefined : ackedD2C.add(id)));
        }
        seq += 1;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const rest = (path: string, body: string) =>
      fetch(`https://localhost${path}?api-version=2021-04-12`, { method: 'POST', headers: { authorization: ownerToken(), 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(15_000) });
    const c2d = (async () => {
      let n = 0;
      while (running) {
        const d = devices[n % devices.length]!;
        const id = `c2d-${n}`;
        n += 1;
        sent.c2d += 1;
        const ok = await rest(`/devices/${d.deviceId}/messages/devicebound`, id).then((r) => r.status === 200, () => false);
        if (ok) ackedC2D.add(id);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const calls = (async () => {
      let n = 0;
      while (running) {
        const d = devices[n++ % devices.length]!;
        const ok = await rest(`/twins/${d.deviceId}/methods`, JSON.stringify({ methodName: 'ping', payload: { n }, responseTimeoutInSeconds: 5 })).then((r) => r.status === 200, () => false);
        if (ok) methods.ok += 1;
        else methods.failed += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    // the rolling restart: every process of every service, one at a time
    await new Promise((r) => setTimeout(r, 1500));
    const restarted: string[] = [];
    for (const m of cluster.members) {
      await cluster.crashAndRestart(m.name, 300);
      restarted.push(m.name);
      await new Promise((r) => setTimeout(r, Number(process.env['SCALE_SETTLE_MS'] ?? 1000)));
    }
    await new Promise((r) => setTimeout(r, 1500));
    running = false;
    await Promise.all([telemetry, c2d, calls]);

    // every acknowledged telemetry message must reach the built-in endpoint; every accepted C2D message its device
    const lostD2C = () => [...ackedD2C].filter((id) => !stored.has(id));
    const lostC2D = () => [...ackedC2D].filter((id) => !receivedC2D.has(id));
    await waitUntil(() => lostD2C().length === 0 && lostC2D().length === 0, 60_000, 'acknowledged messages').catch(() => undefined);
    ac.abort();
    await reading.catch(() => undefined);
    await nc.close();
    for (const c of clients) c.end(true);

    const rows = [
      { kind: 'D2C telemetry (MQTT QoS 1)', sent: sent.d2c, acknowledged: ackedD2C.size, delivered: [...ackedD2C].filter((id) => stored.has(id)).length, lost: lostD2C().length },
      { kind: 'C2D (REST send → MQTT device)', sent: sent.c2d, acknowledged: ackedC2D.size, delivered: [...ackedC2D].filter((id) => receivedC2D.has(id)).length, lost: lostC2D().length },
    ];
    console.log(`\nrolling restart of ${restarted.length} processes (${Object.entries(LAYOUT).map(([s, n]) => `${n} ${s}`).join(', ')}) under load, ${DEVICES} devices`);
    console.table(rows);
    console.log(`direct methods: ${methods.ok} answered, ${methods.failed} failed while processes restarted (a call in flight on a killed gateway fails; callers retry)`);
    console.log(`device connections refused at CONNACK while back ends restarted (the devices retried): ${refusedConnacks}`);
    console.log(`rolling-restart loss count: ${rows[0]!.lost + rows[1]!.lost}\n`);

    expect(restarted).toHaveLength(Object.values(LAYOUT).reduce((a, b) => a + b, 0));
    expect(ackedD2C.size).toBeGreaterThan(DEVICES * 20);
    expect(ackedC2D.size).toBeGreaterThan(50);
    expect(methods.ok).toBeGreaterThan(50);
    expect(lostD2C()).toEqual([]);
    expect(lostC2D()).toEqual([]);
  });
});
