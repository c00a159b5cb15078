import { Command, Option } from 'commander';
import { buildConnectionString, createSasToken, deviceConnectionString, encodeUriComponentStrict, eventHubsConnectionString, parseServiceConnectionString } from '@openiothub/auth';
import { HubRestClient, restPath as path } from './rest-client.js';
import { registryAdmin } from './registry-admin.js';
import { monitorEvents } from './monitor-events.js';
import { addC2DCommands } from './c2d.js';
import { addJobCommands } from './jobs.js';
import { addStreamCommands } from './streams.js';
import { addDpsCommands, addFailoverCommands } from './dps.js';
import { addCertificateCommands } from './certificates.js';
import { addHubSettingsCommands, addIpFilterCommands } from './hub-settings.js';
import { addSimulateCommand } from './simulate.js';
import { addTwinCommands } from './twins.js';
import { readFile } from 'node:fs/promises';
import { resolveTarget, type Target } from './target.js';
import { addRoutingCommands } from './routing.js';

/** Where the CLI writes. Tests pass collectors. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Aborts long-running commands (monitor-events). */
  signal?: AbortSignal;
  /** stderr is a terminal: progress lines redraw in place. */
  tty?: boolean;
}

type Json = Record<string, unknown>;
type Auth = { type: string; symmetricKey?: { primaryKey?: string | null; secondaryKey?: string | null }; x509Thumbprint?: { primaryThumbprint?: string | null; secondaryThumbprint?: string | null } };

const AUTH_METHODS: Record<string, string> = { shared_private_key: 'sas', self_signed: 'selfSigned', x509_ca: 'certificateAuthority' };

function authFrom(o: { am?: string; pk?: string; sk?: string; ptp?: string; stp?: string }): Auth | undefined {
  if (!o.am && !o.pk && !o.sk && !o.ptp && !o.stp) return undefined;
  const type = AUTH_METHODS[o.am ?? 'shared_private_key'] ?? 'sas';
  return {
    type,
    symmetricKey: { primaryKey: o.pk ?? null, secondaryKey: o.sk ?? null },
    x509Thumbprint: { primaryThumbprint: o.ptp ?? null, secondaryThumbprint: o.stp ?? null },
  };
}

function keyOf(auth: Auth | undefined, keyType: string): string {
  const key = keyType === 'secondary' ? auth?.symmetricKey?.secondaryKey : auth?.symmetricKey?.primaryKey;
  if (!key) throw new Error('This identity has no symmetric key (it uses X.509).');
  return key;
}

/** Build the `iothub` command tree. Every action prints JSON (or a plain string) to io.out. */
export function buildProgram(io: Io): Command {
  const program = new Command('iothub')
    .description('Manage an Open IoT Hub (commands follow `az iot hub`)')
    .option('--login <connectionString>', 'hub policy connection string (default: IOTHUB_CONNECTION_STRING or .data/local-hub.json)')
    .option('--local-hub <file>', 'local-hub.json of a running local hub', undefined)
    .option('--ca <file>', 'CA certificate to trust (default: the local hub dev CA)')
    .option('--registry <hostPort>', 'registry gRPC address for policy commands')
    .option('--hub <name>', 'hub name for policy commands (default: the local hub, else the first label of HostName)')
    .option('--dps-login <connectionString>', 'provisioning service connection string (default: DPS_CONNECTION_STRING or .data/local-hub.json)')
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();

  const target = (): Target => resolveTarget(program.opts(), io.env);
  const rest = () => {
    const t = target();
    return new HubRestClient(t.connectionString, t.caCertPath);
  };
  const print = (v: unknown) => io.out(typeof v === 'string' ? `${v}\n` : `${JSON.stringify(v, null, 2)}\n`);

  // ---- device-identity ----
  const device = program.command('device-identity').description('device identities');
  const withAuthOptions = (c: Command) =>
    c
      .addOption(new Option('--am, --auth-method <method>', 'authentication').choices(Object.keys(AUTH_METHODS)))
      .option('--pk, --primary-key <key>', 'primary symmetric key (base64)')
      .option('--sk, --secondary-key <key>', 'secondary symmetric key (base64)')
      .option('--ptp, --primary-thumbprint <thumbprint>', 'primary X.509 thumbprint')
      .option('--stp, --secondary-thumbprint <thumbprint>', 'secondary X.509 thumbprint');

  withAuthOptions(device.command('create').requiredOption('-d, --device-id <id>'))
    .addOption(new Option('--sta, --status <status>').choices(['enabled', 'disabled']))
    .option('--star, --status-reason <reason>')
    .option('--ee, --edge-enabled', 'IoT Edge device', false)
    .action(async (o) => {
      const body: Json = { deviceId: o.deviceId, status: o.status ?? 'enabled', capabilities: { iotEdge: !!o.edgeEnabled } };
      if (o.statusReason !== undefined) body['statusReason'] = o.statusReason;
      const auth = authFrom({ am: o.authMethod, pk: o.primaryKey, sk: o.secondaryKey, ptp: o.primaryThumbprint, stp: o.secondaryThumbprint });
      if (auth) body['authentication'] = auth;
      print(await rest().send('PUT', path('devices', o.deviceId), body));
    });
  device.command('show').requiredOption('-d, --device-id <id>').action(async (o) => print(await rest().send('GET', path('devices', o.deviceId))));
  device
    .command('list')
    .option('--top <n>', 'at most this many (1-1000)')
    .action(async (o) => print(await rest().send('GET', `/devices${o.top ? `?top=${encodeURIComponent(o.top)}` : ''}`)));
  withAuthOptions(device.command('update').requiredOption('-d, --device-id <id>'))
    .addOption(new Option('--sta, --status <status>').choices(['enabled', 'disabled']))
    .option('--star, --status-reason <reason>')
    .option('--etag <etag>', 'update only if the device still has this etag', '*')
    .action(async (o) => {
      const client = rest();
      const current = (await client.send('GET', path('devices', o.deviceId))) as Json;
      const body: Json = { ...current };
      if (o.status) body['status'] = o.status;
      if (o.statusReason !== undefined) body['statusReason'] = o.statusReason;
      const auth = authFrom({ am: o.authMethod, pk: o.primaryKey, sk: o.secondaryKey, ptp: o.primaryThumbprint, stp: o.secondaryThumbprint });
      if (auth) body['authentication'] = auth;
      print(await client.send('PUT', path('devices', o.deviceId), body, { 'if-match': `"${o.etag}"` }));
    });
  device
    .command('delete')
    .requiredOption('-d, --device-id <id>')
    .option('--etag <etag>', 'delete only if the device still has this etag', '*')
    .action(async (o) => {
      await rest().send('DELETE', path('devices', o.deviceId), undefined, { 'if-match': `"${o.etag}"` });
    });
  device
    .command('connection-string')
    .description('show a device connection string')
    .argument('[action]', 'show', 'show')
    .requiredOption('-d, --device-id <id>')
    .addOption(new Option('--kt, --key-type <type>').choices(['primary', 'secondary']).default('primary'))
    .action(async (_a, o) => {
      const client = rest();
      const d = (await client.send('GET', path('devices', o.deviceId))) as { authentication?: Auth };
      print({ connectionString: deviceConnectionString({ hostName: client.hostName, deviceId: o.deviceId, sharedAccessKey: keyOf(d.authentication, o.keyType) }) });
    });

  // ---- module-identity ----
  const mod = program.command('module-identity').description('module identities');
  withAuthOptions(mod.command('create').requiredOption('-d, --device-id <id>').requiredOption('-m, --module-id <id>')).action(async (o) => {
    const body: Json = { deviceId: o.deviceId, moduleId: o.moduleId };
    const auth = authFrom({ am: o.authMethod, pk: o.primaryKey, sk: o.secondaryKey, ptp: o.primaryThumbprint, stp: o.secondaryThumbprint });
    if (auth) body['authentication'] = auth;
    print(await rest().send('PUT', path('devices', o.deviceId, 'modules', o.moduleId), body));
  });
  mod
    .command('show')
    .requiredOption('-d, --device-id <id>')
    .requiredOption('-m, --module-id <id>')
    .action(async (o) => print(await rest().send('GET', path('devices', o.deviceId, 'modules', o.moduleId))));
  mod
    .command('list')
    .requiredOption('-d, --device-id <id>')
    .action(async (o) => print(await rest().send('GET', path('devices', o.deviceId, 'modules'))));
  withAuthOptions(mod.command('update').requiredOption('-d, --device-id <id>').requiredOption('-m, --module-id <id>'))
    .option('--etag <etag>', 'update only if the module still has this etag', '*')
    .action(async (o) => {
      const client = rest();
      const current = (await client.send('GET', path('devices', o.deviceId, 'modules', o.moduleId))) as Json;
      const auth = authFrom({ am: o.authMethod, pk: o.primaryKey, sk: o.secondaryKey, ptp: o.primaryThumbprint, stp: o.secondaryThumbprint });
      const body = auth ? { ...current, authentication: auth } : current;
      print(await client.send('PUT', path('devices', o.deviceId, 'modules', o.moduleId), body, { 'if-match': `"${o.etag}"` }));
    });
  mod
    .command('delete')
    .requiredOption('-d, --device-id <id>')
    .requiredOption('-m, --module-id <id>')
    .option('--etag <etag>', 'delete only if the module still has this etag', '*')
    .action(async (o) => {
      await rest().send('DELETE', path('devices', o.deviceId, 'modules', o.moduleId), undefined, { 'if-match': `"${o.etag}"` });
    });
  mod
    .command('connection-string')
    .argument('[action]', 'show', 'show')
    .requiredOption('-d, --device-id <id>')
    .requiredOption('-m, --module-id <id>')
    .addOption(new Option('--kt, --key-type <type>').choices(['primary', 'secondary']).default('primary'))
    .action(async (_a, o) => {
      const client = rest();
      const m = (await client.send('GET', path('devices', o.deviceId, 'modules', o.moduleId))) as { authentication?: Auth };
      print({
        connectionString: deviceConnectionString({ hostName: client.hostName, deviceId: o.deviceId, moduleId: o.moduleId, sharedAccessKey: keyOf(m.authentication, o.keyType) }),
      });
    });

  // ---- policies and hub ----
  const withAdmin = async <T>(fn: (admin: ReturnType<typeof registryAdmin>, hub: string) => Promise<T>): Promise<T> => {
    const t = target();
    const admin = registryAdmin(t.registryGrpc);
    try {
      const hub = (program.opts() as { hub?: string }).hub ?? t.hub ?? parseServiceConnectionString(t.connectionString).hostName.split('.')[0]!;
      return await fn(admin, hub);
    } finally {
      admin.close();
    }
  };
  const policy = program.command('policy').description('shared access policies');
  policy.command('list').action(() => withAdmin(async (a, hub) => print((await a.listPolicies({ hub })).policies)));
  policy
    .command('show')
    .requiredOption('-n, --name <policy>')
    .action((o) => withAdmin(async (a, hub) => print((await a.getPolicy({ hub, keyName: o.name })).policy)));
  policy
    .command('renew-key')
    .requiredOption('-n, --name <policy>')
    .addOption(new Option('--rk, --renew-key <which>').choices(['primary', 'secondary']).makeOptionMandatory())
    .action((o) => withAdmin(async (a, hub) => print((await a.regeneratePolicyKey({ hub, keyName: o.name, which: o.renewKey })).policy)));

  const hubCmd = program.command('hub').description('the hub itself');
  addHubSettingsCommands(hubCmd, withAdmin, rest, print);
  hubCmd
    .command('c2d-settings')
    .description('show (or with --set, change) the hub cloudToDevice settings: TTL, max delivery count, feedback')
    .option('--set <json>', 'e.g. {"maxDeliveryCount":5,"defaultTtlAsIso8601":"PT2H","feedback":{"ttlAsIso8601":"PT1H"}}')
    .action(async (o) => {
      const body = o.set === undefined ? undefined : (JSON.parse(o.set as string) as unknown);
      print(await rest().send(body === undefined ? 'GET' : 'PATCH', '/settings/cloudToDevice', body));
    });
  hubCmd
    .command('show')
    .description('the hub and its built-in endpoint, as `az iot hub show` prints them (properties.eventHubEndpoints.events)')
    .option('--amqp-port <port>', 'AMQP port of the hub, added to the endpoint when not 5671', '5671')
    .action((o) =>
      withAdmin(async (a, hub) => {
        const h = (await a.getHub({ hub })).hub!;
        const hostName = parseServiceConnectionString(target().connectionString).hostName;
        const port = Number(o.amqpPort) === 5671 ? '' : `:${o.amqpPort}`;
        print({
          name: h.name,
          properties: {
            hostName,
            eventHubEndpoints: {
              events: {
                endpoint: `sb://${hostName.replace(/:\d+$/, '')}${port}/`,
                path: h.name,
                partitionCount: h.partitionCount,
                partitionIds: Array.from({ length: h.partitionCount }, (_, i) => String(i)),
                retentionTimeInDays: h.retentionDays,
              },
            },
          },
        });
      }),
    );
  const groups = hubCmd.command('consumer-group').description("consumer groups of the built-in endpoint ($Default always exists)");
  groups.command('list').action(async () => print(await rest().send('GET', '/eventHubEndpoints/events/consumerGroups')));
  groups
    .command('create')
    .requiredOption('-n, --name <name>')
    .action(async (o) => print(await rest().send('PUT', path('eventHubEndpoints', 'events', 'consumerGroups', o.name))));
  groups
    .command('delete')
    .requiredOption('-n, --name <name>')
    .action(async (o) => {
      await rest().send('DELETE', path('eventHubEndpoints', 'events', 'consumerGroups', o.name));
      print({ deleted: o.name });
    });
  hubCmd
    .command('connection-string')
    .argument('[action]', 'show', 'show')
    .option('--pn, --policy-name <policy>', 'policy', 'iothubowner')
    .addOption(new Option('--kt, --key-type <type>').choices(['primary', 'secondary']).default('primary'))
    .option('--eh, --default-eventhub', 'the Event Hubs-compatible connection string of the built-in endpoint (for @azure/event-hubs)', false)
    .option('--amqp-port <port>', 'AMQP port of the hub, added to the Event Hubs endpoint when not 5671', '5671')
    .action((_a, o) =>
      withAdmin(async (a, hub) => {
        const p = (await a.getPolicy({ hub, keyName: o.policyName })).policy!;
        const hostName = parseServiceConnectionString(target().connectionString).hostName;
        const key = o.keyType === 'secondary' ? p.secondaryKey : p.primaryKey;
        if (o.defaultEventhub) {
          print({ connectionString: eventHubsConnectionString({ hostName, amqpPort: Number(o.amqpPort), keyName: p.keyName, key, hub }) });
          return;
        }
        print({ connectionString: buildConnectionString({ HostName: hostName, SharedAccessKeyName: p.keyName, SharedAccessKey: key }) });
      }),
    );

  program
    .command('generate-sas-token')
    .description('a SAS token for a device or module (device key), or for the hub (policy key)')
    .option('-d, --device-id <id>')
    .option('-m, --module-id <id>')
    .option('--du, --duration <seconds>', 'validity in seconds', '3600')
    .addOption(new Option('--kt, --key-type <type>').choices(['primary', 'secondary']).default('primary'))
    .action(async (o) => {
      const client = rest();
      const expiry = Math.floor(Date.now() / 1000) + Number(o.duration);
      if (!Number.isInteger(Number(o.duration)) || Number(o.duration) <= 0) throw new Error('--duration must be a positive whole number of seconds.');
      if (!o.deviceId) {
        const cs = parseServiceConnectionString(target().connectionString);
        print({ sas: createSasToken({ resourceUri: cs.hostName, key: cs.sharedAccessKey, keyName: cs.sharedAccessKeyName, expiry, encode: false }) });
        return;
      }
      const entity = (await client.send('GET', o.moduleId ? path('devices', o.deviceId, 'modules', o.moduleId) : path('devices', o.deviceId))) as { authentication?: Auth };
      const resourceUri = `${client.hostName}/devices/${o.deviceId}${o.moduleId ? `/modules/${o.moduleId}` : ''}`;
      print({ sas: createSasToken({ resourceUri, key: keyOf(entity.authentication, o.keyType), expiry }), resource: encodeUriComponentStrict(resourceUri) });
    });

  addTwinCommands(program, rest, print);

  program
    .command('monitor-events')
    .description('print device-to-cloud messages as they arrive')
    .option('-d, --device-id <id>', 'only this device')
    .option('-m, --module-id <id>', 'only this module')
    .addOption(new Option('-p, --properties <which>', 'include system and application properties').choices(['all', 'none']).default('none'))
    .option('--nats <url>', 'NATS URL of the hub (default: the local hub)')
    .option('--max <n>', 'stop after n events (0: never)', '0')
    .option('-t, --timeout <seconds>', 'stop after this many seconds (0: never)', '0')
    .action(async (o) => {
      const t = target();
      const natsUrl = o.nats ?? io.env['NATS_URL'] ?? t.natsUrl;
      if (!natsUrl) throw new Error('monitor-events needs the hub NATS URL: --nats, NATS_URL, or a running local hub.');
      const hub = (program.opts() as { hub?: string }).hub ?? t.hub ?? parseServiceConnectionString(t.connectionString).hostName.split('.')[0]!;
      io.err(`Watching telemetry of hub ${hub}${o.deviceId ? `, device ${o.deviceId}` : ''}. Ctrl+C stops.\n`);
      await monitorEvents(
        { natsUrl, hub, deviceId: o.deviceId, moduleId: o.moduleId, properties: o.properties, max: Number(o.max), timeoutSeconds: Number(o.timeout), signal: io.signal },
        (e) => print(e),
      );
    });

  addC2DCommands(program, rest, print, io);
  addRoutingCommands(program, rest, print);
  addJobCommands(program, device, rest, print, io);
  addStreamCommands(program, rest, () => target().caCertPath, io);
  const dps = () => {
    const t = target();
    if (!t.dpsConnectionString) throw new Error('No provisioning service to talk to: pass --dps-login "<connection string>", set DPS_CONNECTION_STRING, or start a local hub (npm start).');
    return new HubRestClient(t.dpsConnectionString, t.caCertPath);
  };
  addDpsCommands(program, dps, print, (path) => readFile(path, 'utf8'));
  addCertificateCommands(program, rest, print);
  addIpFilterCommands(program, rest, print);
  addSimulateCommand(program, {
    rest,
    connection: () => target(),
    print,
    progress: (line, final) => io.err(io.tty && !final ? `\r${line}` : `${io.tty ? '\r' : ''}${line}\n`),
    ...(io.signal ? { signal: io.signal } : {}),
  });
  addFailoverCommands(program, dps, print);
  return program;
}

/** Run the CLI on `argv` (without node and script). Resolves the exit code; never calls process.exit. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode ?? 1;
    io.err(`error: ${e.message ?? String(err)}\n`);
    return 1;
  }
}
