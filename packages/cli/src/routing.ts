import { Option, type Command } from 'commander';
import { parseProps } from './c2d.js';
import type { HubRestClient } from './rest-client.js';

type Json = Record<string, unknown>;
interface RoutingDoc {
  endpoints: { storageContainers: Json[]; webhooks: Json[]; natsSubjects: Json[] };
  routes: Json[];
  fallbackRoute: Json;
  enrichments: Json[];
}

const SOURCES = ['DeviceMessages', 'TwinChangeEvents', 'DeviceLifecycleEvents', 'ModuleLifecycleEvents', 'DeviceConnectionStateEvents'];
const KINDS: Record<string, keyof RoutingDoc['endpoints']> = { 'storage-container': 'storageContainers', webhook: 'webhooks', nats: 'natsSubjects' };
const same = (a: unknown, b: string) => typeof a === 'string' && a.toLowerCase() === b.toLowerCase();
const bool = (v: string) => {
  if (!/^(true|false)$/i.test(v)) throw new Error(`expected true or false, got ${v}`);
  return v.toLowerCase() === 'true';
};

/**
 * `iothub route|endpoint|enrichment|event-subscription …` (after `az iot hub route`,
 * `routing-endpoint`, `message-enrichment`): each change reads the hub's routing document, edits
 * it, and writes it back with `If-Match`, so two operators never overwrite each other silently.
 */
export function addRoutingCommands(program: Command, rest: () => HubRestClient, print: (v: unknown) => void): void {
  const edit = async (change: (doc: RoutingDoc) => unknown): Promise<void> => {
    const client = rest();
    const res = await client.request('GET', '/settings/routing');
    const doc = JSON.parse(res.body.toString('utf8')) as RoutingDoc;
    const shown = change(doc);
    const etag = String(res.headers.etag ?? '*');
    await client.send('PUT', '/settings/routing', doc, { 'if-match': etag });
    print(shown);
  };
  const read = async () => (await rest().send('GET', '/settings/routing')) as RoutingDoc;
  const find = <T extends Json>(list: T[], key: string, name: string, what: string): T => {
    const hit = list.find((x) => same(x[key], name));
    if (!hit) throw new Error(`${what} '${name}' not found.`);
    return hit;
  };

  // ---- routes ----
  const route = program.command('route').description('message routes (devguide §4)');
  route
    .command('create')
    .requiredOption('-n, --name <name>')
    .requiredOption('--en, --endpoint-name <endpoint>', "endpoint the route sends to ('events': the built-in one)")
    .addOption(new Option('-s, --source <source>').choices(SOURCES).default('DeviceMessages'))
    .option('-c, --condition <query>', 'routing query', 'true')
    .option('-e, --enabled <bool>', 'true or false', 'true')
    .action((o) =>
      edit((doc) => {
        const r = { name: o.name, source: o.source, condition: o.condition, endpointNames: [o.endpointName], isEnabled: bool(o.enabled) };
        doc.routes.push(r);
        return r;
      }),
    );
  route.command('list').action(async () => print((await read()).routes));
  route.command('show').requiredOption('-n, --name <name>').action(async (o) => print(find((await read()).routes, 'name', o.name, 'Route')));
  route
    .command('update')
    .requiredOption('-n, --name <name>')
    .option('--en, --endpoint-name <endpoint>')
    .addOption(new Option('-s, --source <source>').choices(SOURCES))
    .option('-c, --condition <query>')
    .option('-e, --enabled <bool>')
    .action((o) =>
      edit((doc) => {
        const r = find(doc.routes, 'name', o.name, 'Route');
        if (o.endpointName) r['endpointNames'] = [o.endpointName];
        if (o.source) r['source'] = o.source;
        if (o.condition !== undefined) r['condition'] = o.condition;
        if (o.enabled !== undefined) r['isEnabled'] = bool(o.enabled);
        return r;
      }),
    );
  route
    .command('delete')
    .requiredOption('-n, --name <name>')
    .action((o) =>
      edit((doc) => {
        find(doc.routes, 'name', o.name, 'Route');
        doc.routes = doc.routes.filter((r) => !same(r['name'], o.name));
        return doc.routes;
      }),
    );
  route
    .command('fallback')
    .description('enable/disable the fallback route, or point it at another endpoint')
    .option('-e, --enabled <bool>')
    .option('--en, --endpoint-name <endpoint>')
    .action((o) =>
      edit((doc) => {
        if (o.enabled !== undefined) doc.fallbackRoute['isEnabled'] = bool(o.enabled);
        if (o.endpointName) doc.fallbackRoute['endpointNames'] = [o.endpointName];
        return doc.fallbackRoute;
      }),
    );
  route
    .command('test')
    .description('evaluate one route (-n) or all routes of a source against a sample message; routes nothing')
    .option('-n, --name <name>', 'a stored route')
    .addOption(new Option('-s, --source <source>').choices(SOURCES).default('DeviceMessages'))
    .option('-b, --body <text>', 'message body', '')
    .option('--ap, --app-properties <props>', 'application properties, key=value pairs separated by ;')
    .option('--sp, --system-properties <props>', 'system properties (contentType=…;contentEncoding=…)')
    .option('--twin <json>', 'the sending device twin: {"tags": …, "properties": {"desired": …, "reported": …}}')
    .action(async (o) => {
      const message = { body: o.body, appProperties: parseProps(o.appProperties), systemProperties: parseProps(o.systemProperties) };
      const twin = o.twin ? (JSON.parse(o.twin) as unknown) : undefined;
      if (o.name) {
        const r = find((await read()).routes, 'name', o.name, 'Route');
        print(await rest().send('POST', '/settings/routing/routes/$testnew', { message, route: r, twin }));
      } else {
        print(await rest().send('POST', '/settings/routing/routes/$testall', { routingSource: o.source, message, twin }));
      }
    });

  // ---- endpoints ----
  const endpoint = program.command('endpoint').description('custom routing endpoints: storage-container (Azure Blob), webhook, nats');
  endpoint
    .command('create')
    .requiredOption('-n, --name <name>')
    .addOption(new Option('-t, --type <type>').choices(Object.keys(KINDS)).makeOptionMandatory())
    .option('-c, --connection-string <cs>', 'storage-container: the storage account connection string')
    .option('--container <name>', 'storage-container: container name')
    .addOption(new Option('--encoding <encoding>', 'storage-container: record format (fixed at creation)').choices(['avro', 'avroDeflate', 'json']))
    .option('-b, --batch-frequency <seconds>', 'storage-container: 60-720')
    .option('-w, --chunk-size <bytes>', 'storage-container: 10485760-524288000')
    .option('--ff, --file-name-format <format>', 'storage-container: must contain {iothub} {partition} {YYYY} {MM} {DD} {HH} {mm}')
    .option('--url <url>', 'webhook: http(s) URL to POST each message to')
    .option('--headers <headers>', 'webhook: extra headers, key=value pairs separated by ;')
    .option('--retry-period <seconds>', 'webhook: how long a failing message is retried')
    .action((o) =>
      edit((doc) => {
        const e: Json = { name: o.name };
        if (o.type === 'storage-container') {
          Object.assign(e, { connectionString: o.connectionString, containerName: o.container });
          if (o.encoding) e['encoding'] = o.encoding;
          if (o.batchFrequency) e['batchFrequencyInSeconds'] = Number(o.batchFrequency);
          if (o.chunkSize) e['maxChunkSizeInBytes'] = Number(o.chunkSize);
          if (o.fileNameFormat) e['fileNameFormat'] = o.fileNameFormat;
        } else if (o.type === 'webhook') {
          Object.assign(e, { url: o.url, headers: parseProps(o.headers) });
          if (o.retryPeriod) e['retryPeriodInSeconds'] = Number(o.retryPeriod);
        }
        doc.endpoints[KINDS[o.type as string]!].push(e);
        return e;
      }),
    );
  endpoint.command('list').action(async () => print((await read()).endpoints));
  endpoint
    .command('delete')
    .requiredOption('-n, --name <name>')
    .action((o) =>
      edit((doc) => {
        const kinds = Object.values(KINDS);
        if (!kinds.some((k) => doc.endpoints[k].some((e) => same(e['name'], o.name)))) throw new Error(`Endpoint '${o.name}' not found.`);
        for (const k of kinds) doc.endpoints[k] = doc.endpoints[k].filter((e) => !same(e['name'], o.name));
        return doc.endpoints;
      }),
    );
  endpoint
    .command('health')
    .description('healthy / unhealthy / dead / unknown per custom endpoint')
    .action(async () => print(await rest().send('GET', '/settings/routing/endpointsHealth')));

  // ---- enrichments ----
  const enrichment = program.command('enrichment').description('message enrichments: static values, $twin paths, $iothubname');
  enrichment
    .command('create')
    .requiredOption('-k, --key <key>')
    .requiredOption('-v, --value <value>')
    .requiredOption('--en, --endpoints <names...>', 'endpoints whose messages get the property')
    .action((o) =>
      edit((doc) => {
        const e = { key: o.key, value: o.value, endpointNames: o.endpoints as string[] };
        doc.enrichments.push(e);
        return e;
      }),
    );
  enrichment.command('list').action(async () => print((await read()).enrichments));
  enrichment
    .command('delete')
    .requiredOption('-k, --key <key>')
    .action((o) =>
      edit((doc) => {
        find(doc.enrichments, 'key', o.key, 'Enrichment');
        doc.enrichments = doc.enrichments.filter((e) => !same(e['key'], o.key));
        return doc.enrichments;
      }),
    );

  // ---- Event Grid-style subscriptions ----
  const subs = program.command('event-subscription').description('Event Grid-style webhooks: device created/deleted/connected/disconnected, telemetry');
  const readSubs = async () => ((await rest().send('GET', '/settings/eventSubscriptions')) as { value: Json[] }).value;
  const writeSubs = async (list: Json[]) => print(await rest().send('PUT', '/settings/eventSubscriptions', list));
  subs
    .command('create')
    .requiredOption('-n, --name <name>')
    .requiredOption('--url <url>')
    .option('--types <types...>', 'Microsoft.Devices.DeviceCreated | DeviceDeleted | DeviceConnected | DeviceDisconnected | DeviceTelemetry')
    .option('--subject-begins-with <prefix>')
    .option('--subject-ends-with <suffix>')
    .action(async (o) => {
      const list = await readSubs();
      const s: Json = { name: o.name, url: o.url, subjectBeginsWith: o.subjectBeginsWith ?? '', subjectEndsWith: o.subjectEndsWith ?? '' };
      if (o.types) s['includedEventTypes'] = (o.types as string[]).map((t) => (t.startsWith('Microsoft.Devices.') ? t : `Microsoft.Devices.${t}`));
      await writeSubs([...list, s]);
    });
  subs.command('list').action(async () => print(await readSubs()));
  subs
    .command('delete')
    .requiredOption('-n, --name <name>')
    .action(async (o) => {
      const list = await readSubs();
      find(list, 'name', o.name, 'Event subscription');
      await writeSubs(list.filter((s) => !same(s['name'], o.name)));
    });
}
