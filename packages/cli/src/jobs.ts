import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { restPath as path, type HubRestClient } from './rest-client.js';

type Json = Record<string, unknown>;
const FINISHED = ['completed', 'failed', 'cancelled'];

/** A JSON argument, inline or `@file` (as az takes `--content content.json`). */
export function jsonArg(text: string, what: string): unknown {
  const raw = text.startsWith('@') ? readFileSync(text.slice(1), 'utf8') : /^\s*[[{]/.test(text) ? text : readFileSyncIfExists(text);
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new Error(`${what} must be JSON (inline, or @file).`);
  }
}
function readFileSyncIfExists(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return p;
  }
}

/** Every page of a twin query: POST /devices/query while the hub sends x-ms-continuation, at most `top` rows. */
export async function queryAll(client: HubRestClient, query: string, top: number): Promise<unknown[]> {
  const rows: unknown[] = [];
  let continuation: string | undefined;
  do {
    const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'x-ms-max-item-count': String(Math.min(100, Math.max(1, top - rows.length))) };
    if (continuation) headers['x-ms-continuation'] = continuation;
    const res = await client.request('POST', '/devices/query', Buffer.from(JSON.stringify({ query })), headers);
    rows.push(...(JSON.parse(res.body.toString('utf8')) as unknown[]));
    const next = res.headers['x-ms-continuation'];
    continuation = typeof next === 'string' && next !== '' ? next : undefined;
  } while (continuation && rows.length < top);
  return rows.slice(0, top);
}

/** `[██████░░░░]  60% running` on one line (carriage return), for jobs that take a while. */
export function progressBar(percent: number, label: string, width = 30): string {
  const p = Math.max(0, Math.min(100, Math.round(percent)));
  const full = Math.round((p / 100) * width);
  return `\r[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${String(p).padStart(3)}% ${label}`;
}

/** Polls a job until it finishes, drawing its progress; resolves the finished job. */
async function waitFor(fetchJob: () => Promise<Json>, percentOf: (j: Json) => number, err: (s: string) => void, pollMs: number, signal?: AbortSignal): Promise<Json> {
  for (;;) {
    const job = await fetchJob();
    const status = String(job['status']);
    err(progressBar(percentOf(job), status));
    if (FINISHED.includes(status) || signal?.aborted) {
      err('\n');
      return job;
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Share of a v2 job's devices that are done. */
function deviceJobPercent(j: Json): number {
  const s = (j['deviceJobStatistics'] ?? {}) as { deviceCount?: number; succeededCount?: number; failedCount?: number };
  if (FINISHED.includes(String(j['status']))) return 100;
  return s.deviceCount ? (((s.succeededCount ?? 0) + (s.failedCount ?? 0)) * 100) / s.deviceCount : 0;
}

/**
 * `iothub query`, `iothub job create|show|list|cancel`, `iothub configuration
 * create|show|list|update|delete|show-metric`, `iothub device-identity export|import` (after
 * `az iot hub query`, `az iot hub job`, `az iot hub configuration`, `az iot hub device-identity
 * export|import`). Long jobs draw a progress bar on stderr while `--wait` polls them.
 */
export function addJobCommands(
  program: Command,
  deviceIdentity: Command,
  rest: () => HubRestClient,
  print: (v: unknown) => void,
  io: { err(text: string): void; signal?: AbortSignal | undefined },
): void {
  program
    .command('query')
    .description('run a twin query (SELECT … FROM devices | devices.modules | devices.jobs)')
    .requiredOption('-q, --query-command <sql>')
    .option('--top <n>', 'at most this many rows', '1000')
    .action(async (o) => print(await queryAll(rest(), o.queryCommand, Number(o.top))));

  // ---- jobs (v2) ----
  const job = program.command('job').description('scheduled jobs: twin updates and direct methods over a query (devguide §14)');
  job
    .command('create')
    .requiredOption('--job-id <id>')
    .addOption(new Option('--jt, --job-type <type>').choices(['scheduleUpdateTwin', 'scheduleDeviceMethod']).makeOptionMandatory())
    .requiredOption('-q, --query-condition <condition>', "devices it runs on, e.g. \"deviceId IN ['a','b']\" or \"tags.building = '43'\"")
    .option('--twin-patch <json>', 'for scheduleUpdateTwin: {"tags": {...}, "properties": {"desired": {...}}}')
    .option('--mn, --method-name <name>', 'for scheduleDeviceMethod')
    .option('--mp, --method-payload <json>', 'method payload (JSON)', 'null')
    .option('--mrt, --method-response-timeout <seconds>', 'method response timeout, 5-300', '30')
    .option('--start, --start-time <iso>', 'start time (default: now)')
    .option('--ttl <seconds>', 'maximum execution time', '3600')
    .option('--wait', 'poll until the job finishes, with a progress bar', false)
    .option('--poll-interval <seconds>', 'seconds between polls with --wait', '1')
    .action(async (o) => {
      const body: Json = { jobId: o.jobId, type: o.jobType, queryCondition: o.queryCondition, startTime: o.startTime ?? new Date().toISOString(), maxExecutionTimeInSeconds: Number(o.ttl) };
      if (o.jobType === 'scheduleUpdateTwin') {
        if (!o.twinPatch) throw new Error('--twin-patch is required for scheduleUpdateTwin.');
        body['updateTwin'] = jsonArg(o.twinPatch, '--twin-patch');
      } else {
        if (!o.methodName) throw new Error('--method-name is required for scheduleDeviceMethod.');
        body['cloudToDeviceMethod'] = { methodName: o.methodName, payload: jsonArg(o.methodPayload, '--method-payload'), responseTimeoutInSeconds: Number(o.methodResponseTimeout) };
      }
      const client = rest();
      const created = (await client.send('PUT', path('jobs', 'v2', o.jobId), body)) as Json;
      print(o.wait ? await waitFor(async () => (await client.send('GET', path('jobs', 'v2', o.jobId))) as Json, deviceJobPercent, io.err, Number(o.pollInterval) * 1000, io.signal) : created);
    });
  job
    .command('show')
    .requiredOption('--job-id <id>')
    .action(async (o) => print(await rest().send('GET', path('jobs', 'v2', o.jobId))));
  job
    .command('list')
    .addOption(new Option('--jt, --job-type <type>').choices(['scheduleUpdateTwin', 'scheduleDeviceMethod']))
    .addOption(new Option('--js, --job-status <status>').choices(['queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled']))
    .action(async (o) => {
      const client = rest();
      const params = new URLSearchParams();
      if (o.jobType) params.set('jobType', o.jobType);
      if (o.jobStatus) params.set('jobStatus', o.jobStatus);
      const jobs: unknown[] = [];
      let continuation: string | undefined;
      do {
        const res = await client.request('GET', `/jobs/v2/query${params.size ? `?${params}` : ''}`, undefined, continuation ? { 'x-ms-continuation': continuation } : {});
        jobs.push(...(JSON.parse(res.body.toString('utf8')) as unknown[]));
        const next = res.headers['x-ms-continuation'];
        continuation = typeof next === 'string' && next !== '' ? next : undefined;
      } while (continuation);
      print(jobs);
    });
  job
    .command('cancel')
    .requiredOption('--job-id <id>')
    .action(async (o) => print(await rest().send('POST', path('jobs', 'v2', o.jobId, 'cancel'))));

  // ---- configurations ----
  const cfg = program.command('configuration').description('automatic device configurations');
  const content = (text: string) => {
    const v = jsonArg(text, '--content') as Json;
    return (v['content'] ?? v) as Json;
  };
  cfg
    .command('create')
    .requiredOption('-c, --config-id <id>')
    .requiredOption('-k, --content <json>', '{"deviceContent": {"properties.desired.x": …}} (or {"content": {…}}), inline or @file')
    .option('-t, --target-condition <condition>', "twins it applies to, e.g. \"tags.environment='test'\"; * for all", '*')
    .option('--pri, --priority <n>', 'the highest number wins', '1')
    .option('--lab, --labels <json>', 'labels, e.g. {"HostPlatform":"Linux"}')
    .option('-m, --metrics <json>', '{"queries": {"name": "SELECT deviceId FROM devices WHERE …"}}, inline or @file')
    .action(async (o) => {
      const body: Json = { id: o.configId, schemaVersion: '1.0', content: content(o.content), targetCondition: o.targetCondition, priority: Number(o.priority) };
      if (o.labels) body['labels'] = jsonArg(o.labels, '--labels');
      if (o.metrics) body['metrics'] = jsonArg(o.metrics, '--metrics');
      print(await rest().send('PUT', path('configurations', o.configId), body));
    });
  cfg
    .command('show')
    .requiredOption('-c, --config-id <id>')
    .action(async (o) => print(await rest().send('GET', path('configurations', o.configId))));
  cfg
    .command('list')
    .option('--top <n>', 'at most this many')
    .action(async (o) => print(await rest().send('GET', `/configurations${o.top ? `?top=${Number(o.top)}` : ''}`)));
  cfg
    .command('update')
    .description('change targetCondition, priority, labels or metrics (content cannot change)')
    .requiredOption('-c, --config-id <id>')
    .option('--set <assignment...>', 'e.g. targetCondition="tags.location.state=\'Oregon\'" priority=20 labels=\'{"v":"2"}\'')
    .action(async (o) => {
      const client = rest();
      const current = (await client.send('GET', path('configurations', o.configId))) as Json;
      for (const assignment of (o.set ?? []) as string[]) {
        const eq = assignment.indexOf('=');
        if (eq <= 0) throw new Error(`--set takes name=value, got ${assignment}`);
        const name = assignment.slice(0, eq);
        const value = assignment.slice(eq + 1).replace(/^"(.*)"$/s, '$1');
        if (name === 'priority') current['priority'] = Number(value);
        else if (name === 'targetCondition') current['targetCondition'] = value;
        else if (name === 'labels' || name === 'metrics') current[name] = jsonArg(value, name);
        else throw new Error(`${name} cannot be updated; updatable: targetCondition, priority, labels, metrics.`);
      }
      print(await client.send('PUT', path('configurations', o.configId), current, { 'if-match': `"${String(current['etag'])}"` }));
    });
  cfg
    .command('delete')
    .requiredOption('-c, --config-id <id>')
    .action(async (o) => print((await rest().send('DELETE', path('configurations', o.configId))) ?? `deleted ${o.configId}`));
  cfg
    .command('show-metric')
    .description('the device ids behind a metric (its query, run now)')
    .requiredOption('-c, --config-id <id>')
    .requiredOption('--metric-id <name>', 'targetedCount, appliedCount, or a custom metric name')
    .addOption(new Option('--metric-type <type>').choices(['system', 'user']).default('user'))
    .action(async (o) => {
      const client = rest();
      const c = (await client.send('GET', path('configurations', o.configId))) as Json;
      const queries = ((o.metricType === 'system' ? c['systemMetrics'] : c['metrics']) as { queries?: Record<string, string> } | undefined)?.queries ?? {};
      const query = queries[o.metricId];
      if (!query) throw new Error(`Metric ${o.metricId} (${o.metricType}) not found; known: ${Object.keys(queries).join(', ') || 'none'}.`);
      print({ metric: o.metricId, query, result: await queryAll(client, query, 1_000_000) });
    });

  // ---- import / export ----
  const bulkWait = async (client: HubRestClient, created: Json, wait: boolean) =>
    wait ? waitFor(async () => (await client.send('GET', path('jobs', String(created['jobId'])))) as Json, (j) => Number(j['progress'] ?? 0), io.err, 1000, io.signal) : created;
  deviceIdentity
    .command('export')
    .description('export every identity (and twin) to devices.txt in a blob container')
    .requiredOption('--bcu, --blob-container-uri <url>', 'container URL with a SAS token (read, write, delete)')
    .option('--ik, --include-keys', 'export the symmetric keys too', false)
    .option('--no-wait', 'return as soon as the job is created')
    .action(async (o) => {
      const client = rest();
      const created = (await client.send('POST', '/jobs/create', { type: 'export', outputBlobContainerUri: o.blobContainerUri, excludeKeysInExport: !o.includeKeys })) as Json;
      print(await bulkWait(client, created, o.wait));
    });
  deviceIdentity
    .command('import')
    .description('apply devices.txt from a blob container (importMode per line); failures go to importErrors.log')
    .requiredOption('--ibcu, --input-blob-container-uri <url>', 'container with devices.txt (SAS with read)')
    .requiredOption('--obcu, --output-blob-container-uri <url>', 'container for importErrors.log (SAS with write)')
    .option('--no-wait', 'return as soon as the job is created')
    .action(async (o) => {
      const client = rest();
      const created = (await client.send('POST', '/jobs/create', { type: 'import', inputBlobContainerUri: o.inputBlobContainerUri, outputBlobContainerUri: o.outputBlobContainerUri })) as Json;
      print(await bulkWait(client, created, o.wait));
    });
}
