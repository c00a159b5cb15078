import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSasToken } from '@openiothub/auth';
import { freePort, startServiceProcess, uniqueName, type ServiceProcess } from '@openiothub/testing';
import { ownHub, restOn, startExtraGateway, type ExtraGateway } from './gateways.js';
import { hub, poll } from './helpers.js';
import { rawConnect, usernameOf } from './devices.js';

// Distributed tracing (issue: observability; protocols-ops §7.6): a gateway and a routing process
// of the build export spans over OTLP/HTTP to a collector in this test. One telemetry message with
// IoT Hub's `tracestate` property is one trace: the gateway's D2C span, the bus publish, routing's
// ingress and the egress to the built-in endpoint, the trace context carried in NATS headers.

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: Array<{ key: string; value: { stringValue?: string; intValue?: string | number; boolValue?: boolean } }>;
}
interface Collected extends OtlpSpan {
  service: string;
  scope: string;
}

const spans: Collected[] = [];
let collector: Server;
let endpoint = '';
let gateway: ExtraGateway;
let routing: ServiceProcess;
const hubName = uniqueName('trc');
let token = '';

beforeAll(async () => {
  collector = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: Array<{ scope: { name: string }; spans: OtlpSpan[] }> }>;
      };
      for (const rs of body.resourceSpans) {
        const service = rs.resource.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service, scope: ss.scope.name });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;

  token = (await ownHub(hubName)).token;
  const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint };
  gateway = await startExtraGateway({ hub: hubName, env: otel });
  const h = hub();
  // a routing process of its own for this hub (the test hub's routing serves only the e2e hubs)
  routing = await startServiceProcess({
    entry: resolve(import.meta.dirname, '../../services/routing/dist/main.js'),
    adminPort: await freePort(),
    env: {
      ...otel,
      DATABASE_URL: h.backing.databaseUrl,
      NATS_URL: h.backing.natsUrl,
      REDIS_URL: h.backing.redisUrl,
      REGISTRY_GRPC_URL: `127.0.0.1:${h.ports.registryGrpc}`,
      TWIN_GRPC_URL: `127.0.0.1:${h.ports.twinGrpc}`,
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(await freePort()),
      ROUTING_HUBS: hubName,
      ROUTING_LEASE_MS: '3000',
    },
  });
});
afterAll(async () => {
  await gateway?.stop();
  await routing?.stop();
  await new Promise<void>((r) => (collector ? collector.close(() => r()) : r()));
});

const rest = restOn(() => gateway, () => token);

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.boolValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};

describe('distributed tracing', () => {
  it('one telemetry message is one trace: gateway D2C → bus publish → routing ingress → egress to the built-in endpoint', async () => {
    const { deviceId, key } = await rest.createDevice('traced');
    const client = await rawConnect({
      clientId: deviceId,
      username: usernameOf({ deviceId }, 'localhost'),
      password: createSasToken({ resourceUri: `localhost/devices/${deviceId}`, key, expiry: Math.floor(Date.now() / 1000) + 3600 }),
      port: gateway.mqttPort,
      clean: true,
    });
    // the C SDK's encoding of IoT Hub's tracing property in the MQTT property bag (checklist 142)
    await client.publishAsync(`devices/${deviceId}/messages/events/%24.tracestate=timestamp%3d1547666028`, JSON.stringify({ t: 1 }), { qos: 1 });
    await client.endAsync();

    const d2c = await poll(
      async () => spans.find((s) => s.name === 'DiagnosticIoTHubD2C' && attr(s, 'iothub.deviceId') === deviceId),
      (s) => s !== undefined,
      20_000,
      'the gateway span',
    );
    const trace = await poll(
      async () => spans.filter((s) => s.traceId === d2c!.traceId),
      (t) => t.some((s) => s.name === 'DiagnosticIoTHubEgress'),
      20_000,
      'the routing spans of the same trace',
    );
    const one = (name: string) => trace.find((s) => s.name === name)!;
    const publish = trace.find((s) => s.scope === 'openiothub.bus')!;
    const ingress = one('DiagnosticIoTHubIngress');
    const egress = one('DiagnosticIoTHubEgress');
    // one trace id across processes; each span the child of the one before
    expect(d2c!.service).toBe('openiothub-gateway');
    expect(publish).toMatchObject({ service: 'openiothub-gateway', parentSpanId: d2c!.spanId });
    expect(publish.name).toMatch(/^ingest\..+ publish$/);
    expect(ingress).toMatchObject({ service: 'openiothub-routing', parentSpanId: publish.spanId });
    expect(egress).toMatchObject({ service: 'openiothub-routing', parentSpanId: ingress.spanId });
    expect(attr(egress, 'iothub.endpointName')).toBe('events');
    expect(attr(egress, 'iothub.endpointType')).toBe('EventHub');
    expect(attr(ingress, 'iothub.isRoutingEnabled')).toBe(false);
    // the device's clock (tracestate) beside the hub's (checklist 141)
    expect(attr(d2c!, 'iothub.callerLocalTimeUtc')).toBe('2019-01-16T19:13:48.000Z');
    expect(String(attr(d2c!, 'iothub.calleeLocalTimeUtc'))).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(d2c!.traceId).toMatch(/^[0-9a-f]{32}$/);
    // routing's delivery in Azure Monitor's metrics (protocols-ops §7.1)
    const metrics = await routing.metrics();
    expect(metrics).toMatch(new RegExp(`^iothub_d2c_telemetry_egress_success_total\\{hub="${hubName}"\\} 1$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^iothub_d2c_endpoints_egress_builtIn_events_total\\{hub="${hubName}"\\} 1$`, 'm'));
    // and the gateway's calls to the back ends are spans too (gRPC, trace context in the metadata)
    expect(spans.some((s) => s.service === 'openiothub-gateway' && s.name.startsWith('grpc.client/'))).toBe(true);
  });

  it('takes the sampling setting azureiot*com^dtracing^1 in desired properties only when it is valid (checklist 147-148)', async () => {
    const { deviceId } = await rest.createDevice('sampled');
    const patch = (setting: unknown) => rest.call('PATCH', `/twins/${deviceId}`, { properties: { desired: { 'azureiot*com^dtracing^1': setting } } }, { 'if-match': '*' });
    const bad = await patch({ sampling_mode: 1, sampling_rate: 150 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ Message: expect.stringMatching(/^ErrorCode:ArgumentInvalid;.*sampling_rate/) });
    expect((await patch({ sampling_mode: 5, sampling_rate: 10 })).status).toBe(400);
    const good = await patch({ sampling_mode: 1, sampling_rate: 100 });
    expect(good.status).toBe(200);
    expect(((await good.json()) as { properties: { desired: Record<string, unknown> } }).properties.desired['azureiot*com^dtracing^1']).toEqual({ sampling_mode: 1, sampling_rate: 100 });
  });
});
