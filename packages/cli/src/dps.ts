import type { Command } from 'commander';
import { Option } from 'commander';
import { deriveDeviceKey } from '@openiothub/auth';
import type { HubRestClient } from './rest-client.js';

type Print = (v: unknown) => void;
type Json = Record<string, unknown>;

/** `az iot dps` reprovision policy names → the REST reprovisionPolicy. */
const REPROVISION: Record<string, { updateHubAssignment: boolean; migrateDeviceData: boolean }> = {
  reprovisionandmigratedata: { updateHubAssignment: true, migrateDeviceData: true },
  reprovisionandresetdata: { updateHubAssignment: true, migrateDeviceData: false },
  neverreprovision: { updateHubAssignment: false, migrateDeviceData: false },
};

const ALLOCATION = ['hashed', 'static', 'geoLatency', 'lowestLoad', 'custom'];

function json(text: string | undefined, what: string): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what} must be JSON`);
  }
}

function enrollmentOptions(c: Command): Command {
  return c
    .addOption(new Option('--at, --attestation-type <type>', 'attestation').choices(['symmetrickey', 'x509']).default('symmetrickey'))
    .option('--pk, --primary-key <key>', 'primary symmetric key (base64); generated when left out')
    .option('--sk, --secondary-key <key>', 'secondary symmetric key (base64); generated when left out')
    .option('--cp, --certificate-path <file>', 'X.509 certificate (PEM) for x509 attestation')
    .addOption(new Option('--ps, --provisioning-status <status>').choices(['enabled', 'disabled']))
    .option('--initial-twin-tags <json>', 'initial twin tags')
    .option('--initial-twin-properties <json>', 'initial desired properties')
    .addOption(new Option('--ap, --allocation-policy <policy>').choices(ALLOCATION))
    .option('--ih, --iot-hubs <hosts>', 'hub host names the device may be assigned to, space separated')
    .option('--webhook-url <url>', 'custom allocation webhook')
    .addOption(new Option('--rp, --reprovision-policy <policy>').choices(Object.keys(REPROVISION)))
    .option('--ee, --edge-enabled', 'IoT Edge device');
}

/** Merge the command's options into an enrollment document (create from nothing, update on top of the current one). */
async function applyOptions(doc: Json, o: Record<string, string | boolean | undefined>, kind: 'individual' | 'group', readFile: (p: string) => Promise<string>): Promise<Json> {
  const out: Json = { ...doc };
  if (o['attestationType'] === 'x509' && o['certificatePath']) {
    const certificate = await readFile(String(o['certificatePath']));
    const field = kind === 'individual' ? 'clientCertificates' : 'signingCertificates';
    out['attestation'] = { type: 'x509', x509: { [field]: { primary: { certificate } } } };
  } else if (!out['attestation'] || o['primaryKey'] || o['secondaryKey']) {
    const current = ((out['attestation'] as Json | undefined)?.['symmetricKey'] as Json | undefined) ?? {};
    out['attestation'] = { type: 'symmetricKey', symmetricKey: { primaryKey: o['primaryKey'] ?? current['primaryKey'], secondaryKey: o['secondaryKey'] ?? current['secondaryKey'] } };
  }
  if (o['deviceId']) out['deviceId'] = o['deviceId'];
  if (o['provisioningStatus']) out['provisioningStatus'] = o['provisioningStatus'];
  const tags = json(o['initialTwinTags'] as string | undefined, '--initial-twin-tags');
  const desired = json(o['initialTwinProperties'] as string | undefined, '--initial-twin-properties');
  if (tags !== undefined || desired !== undefined) {
    const twin = (out['initialTwin'] as Json | undefined) ?? {};
    out['initialTwin'] = { ...twin, ...(tags !== undefined ? { tags } : {}), ...(desired !== undefined ? { properties: { desired } } : {}) };
  }
  if (o['allocationPolicy']) out['allocationPolicy'] = o['allocationPolicy'];
  if (o['iotHubs']) out['iotHubs'] = String(o['iotHubs']).split(/[\s,]+/).filter(Boolean);
  if (o['webhookUrl']) out['customAllocationDefinition'] = { webhookUrl: o['webhookUrl'], apiVersion: '2019-03-31' };
  if (o['reprovisionPolicy']) out['reprovisionPolicy'] = REPROVISION[String(o['reprovisionPolicy'])];
  if (o['edgeEnabled']) out['capabilities'] = { iotEdge: true };
  return out;
}

/**
 * `iothub dps …` (after `az iot dps`): enrollments, enrollment groups, registration records and
 * group device keys, against the provisioning service API; and the IoT Central failover verbs
 * under `device`.
 */
export function addDpsCommands(program: Command, dps: () => HubRestClient, print: Print, readFile: (p: string) => Promise<string>): void {
  const root = program.command('dps').description('Device Provisioning Service (commands follow `az iot dps`)');
  const collection = (name: string, path: string, kind: 'individual' | 'group', idFlag: string) => {
    const cmd = root.command(name).description(kind === 'individual' ? 'individual enrollments' : 'enrollment groups');
    const url = (id: string) => `${path}/${encodeURIComponent(id)}`;
    const create = enrollmentOptions(cmd.command('create').requiredOption(idFlag));
    const update = enrollmentOptions(cmd.command('update').requiredOption(idFlag));
    if (kind === 'individual') for (const c of [create, update]) c.option('--device-id <id>', 'device id in the hub (default: the registration id)');
    create.action(async (o) => {
        const id = String(o.enrollmentId ?? o.groupId);
        const base: Json = kind === 'individual' ? { registrationId: id } : { enrollmentGroupId: id };
        print(await dps().send('PUT', url(id), await applyOptions(base, o, kind, readFile)));
      });
    update.action(async (o) => {
      const id = String(o.enrollmentId ?? o.groupId);
      const current = (await dps().send('GET', url(id))) as Json;
      delete current['registrationState'];
      print(await dps().send('PUT', url(id), await applyOptions(current, o, kind, readFile), { 'if-match': String(current['etag']) }));
    });
    cmd.command('show').requiredOption(idFlag).action(async (o) => print(await dps().send('GET', url(String(o.enrollmentId ?? o.groupId)))));
    cmd.command('list').option('--top <n>', 'at most this many').action(async (o) => {
      const items: Json[] = [];
      let continuation = '';
      do {
        const res = await dps().request('POST', `${path}/query`, Buffer.from('{"query":"*"}'), { 'content-type': 'application/json', ...(continuation ? { 'x-ms-continuation': continuation } : {}) });
        items.push(...(JSON.parse(res.body.toString('utf8')) as Json[]));
        continuation = String(res.headers['x-ms-continuation'] ?? '');
      } while (continuation && (!o.top || items.length < Number(o.top)));
      print(o.top ? items.slice(0, Number(o.top)) : items);
    });
    cmd.command('delete').requiredOption(idFlag).option('--etag <etag>').action(async (o) => {
      await dps().send('DELETE', url(String(o.enrollmentId ?? o.groupId)), undefined, o.etag ? { 'if-match': String(o.etag) } : {});
    });
    return cmd;
  };
  collection('enrollment', '/enrollments', 'individual', '--eid, --enrollment-id <id>');
  const group = collection('enrollment-group', '/enrollmentGroups', 'group', '--gid, --group-id <id>');
  group
    .command('compute-device-key')
    .description('the symmetric key of one device of a group (as `az iot dps enrollment-group compute-device-key`)')
    .requiredOption('--rid, --registration-id <id>')
    .option('--key <key>', 'the group key (else read from the service with --group-id)')
    .option('--gid, --group-id <id>')
    .action(async (o) => print(await computeKey(dps, o)));
  root
    .command('compute-device-key')
    .description('base64(HMAC-SHA256(groupKey, registrationId)): a group device key, offline')
    .requiredOption('--rid, --registration-id <id>')
    .option('--key <key>', 'the group key (else read from the service with --group-id)')
    .option('--gid, --group-id <id>')
    .action(async (o) => print(await computeKey(dps, o)));

  const reg = root.command('registration').description('device registration records');
  reg.command('show').requiredOption('--rid, --registration-id <id>').action(async (o) => print(await dps().send('GET', `/registrations/${encodeURIComponent(o.registrationId)}`)));
  reg.command('list').requiredOption('--gid, --group-id <id>', 'the enrollment group').action(async (o) => {
    const res = await dps().request('POST', `/registrations/${encodeURIComponent(o.groupId)}/query`, Buffer.from('{}'), { 'content-type': 'application/json' });
    print(JSON.parse(res.body.toString('utf8')));
  });
  reg.command('delete').requiredOption('--rid, --registration-id <id>').action(async (o) => {
    await dps().send('DELETE', `/registrations/${encodeURIComponent(o.registrationId)}`);
  });
}

/** `iothub device manual-failover|manual-failback|registration-info` (after `az iot central device …`). */
export function addFailoverCommands(program: Command, dps: () => HubRestClient, print: Print): void {
  const device = program.command('device').description('device connectivity (IoT Central style)');
  device
    .command('manual-failover')
    .description("move the device to another hub for a while; it comes back by itself after --ttl-minutes")
    .requiredOption('-d, --device-id <id>')
    .requiredOption('--ttl-minutes <n>', 'minutes until the device goes back to its hub (fractions allowed)')
    .option('--target-hub <host>', 'the hub to move to (default: another linked hub)')
    .action(async (o) => {
      print(await dps().send('POST', `/registrations/${encodeURIComponent(o.deviceId)}/failover`, { ttlMinutes: Number(o.ttlMinutes), ...(o.targetHub ? { targetHub: o.targetHub } : {}) }));
    });
  device
    .command('manual-failback')
    .description('end a failover now')
    .requiredOption('-d, --device-id <id>')
    .action(async (o) => print(await dps().send('POST', `/registrations/${encodeURIComponent(o.deviceId)}/failback`, {})));
  device
    .command('registration-info')
    .description('the registration record: assigned hub, and failover state')
    .requiredOption('-d, --device-id <id>')
    .action(async (o) => print(await dps().send('GET', `/registrations/${encodeURIComponent(o.deviceId)}`)));
}

async function computeKey(dps: () => HubRestClient, o: { registrationId: string; key?: string; groupId?: string }): Promise<string> {
  let key = o.key;
  if (!key) {
    if (!o.groupId) throw new Error('pass --key <group key>, or --group-id to read it from the service');
    const g = (await dps().send('GET', `/enrollmentGroups/${encodeURIComponent(o.groupId)}`)) as { attestation?: { symmetricKey?: { primaryKey?: string } } };
    key = g.attestation?.symmetricKey?.primaryKey;
    if (!key) throw new Error(`enrollment group ${o.groupId} has no symmetric key`);
  }
  return deriveDeviceKey(key, o.registrationId);
}
