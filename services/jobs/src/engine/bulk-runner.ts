import { BlobContainer, BlobRequestError } from '@openiothub/blob';
import { DomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import { deviceFromJson, deviceToJson, registryV1, type PromiseClient, type twinV1 } from '@openiothub/proto';
import type { BulkJobRecord } from '../domain/bulk-job.js';
import type { BulkJobStore } from '../store/bulk-store.js';

const EXPORT_PAGE = 500;
const IMPORT_CHUNK = 100;
export const DEVICES_BLOB = 'devices.txt';
export const IMPORT_ERRORS_BLOB = 'importErrors.log';

export interface BulkRunnerOptions {
  readonly store: BulkJobStore;
  readonly registry: PromiseClient<registryV1.RegistryServiceClient>;
  readonly twin: PromiseClient<twinV1.TwinServiceClient>;
  readonly log: Logger;
  readonly leaseMs: number;
}

class Cancelled extends Error {}
const TRANSIENT = new Set(['ServiceUnavailable', 'ServerError']);

type Line = Record<string, unknown>;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string literal of the query language (`'…'` with `\'` and `\\` escaped). */
const literal = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * Runs import/export jobs (seeds-protocols-ops §10), one at a time per process, from whichever
 * process claims them. Export writes `devices.txt` (JSON Lines: identity, keys unless excluded,
 * twin data) block by block; import reads `devices.txt`, applies each line's importMode through the
 * registry's bulk API and its twin data through the twin service, and writes per-device failures
 * to `importErrors.log` while the job goes on. A job whose process dies is taken over after its
 * lease and run again from the start.
 */
export class BulkRunner {
  #busy = false;

  constructor(private readonly o: BulkRunnerOptions) {}

  /** Claims and runs one job if this process is idle; returns when that job ends. */
  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const job = await this.o.store.claim(this.o.leaseMs);
      if (job) await this.#run(job);
    } finally {
      this.#busy = false;
    }
  }

  async #run(job: BulkJobRecord & { hub: string }): Promise<void> {
    const log = this.o.log.child({ hub: job.hub, jobId: job.jobId, type: job.type });
    try {
      if (job.type === 'export') await this.#export(job);
      else await this.#import(job);
      await this.o.store.finish(job.hub, job.jobId, { status: 'completed' });
      log.info('import/export job completed');
    } catch (err) {
      if (err instanceof Cancelled) return log.info('import/export job cancelled');
      const reason = err instanceof Error ? err.message : String(err);
      log.warn({ category: 'JobsOperations', err }, 'import/export job failed');
      await this.o.store.finish(job.hub, job.jobId, { status: 'failed', reason });
    }
  }

  async #progress(job: BulkJobRecord & { hub: string }, done: number, total: number): Promise<void> {
    if (!(await this.o.store.progress(job.hub, job.jobId, total > 0 ? (done * 100) / total : 0, this.o.leaseMs))) throw new Cancelled();
  }

  async #export(job: BulkJobRecord & { hub: string }): Promise<void> {
    const blob = BlobContainer.fromSasUrl(job.outputUri).blocks(DEVICES_BLOB, 'text/plain; charset=utf-8');
    const total = Number((await this.o.registry.getStatistics({ hub: job.hub })).totalDeviceCount);
    let after = '';
    let done = 0;
    for (;;) {
      const { devices } = await this.o.registry.listDevices({ hub: job.hub, top: EXPORT_PAGE, afterDeviceId: after });
      if (devices.length === 0) break;
      const twins = await this.#twins(job.hub, devices.map((d) => d.deviceId));
      const text = devices.map((d) => JSON.stringify(exportLine(d, twins.get(d.deviceId), job.excludeKeys)) + '\n').join('');
      await blob.add(text);
      done += devices.length;
      after = devices[devices.length - 1]!.deviceId;
      await this.#progress(job, done, Math.max(total, done));
      if (devices.length < EXPORT_PAGE) break;
    }
    await blob.commit();
  }

  /** The twins of these devices, by id, from the twin query engine. */
  async #twins(hub: string, ids: readonly string[]): Promise<Map<string, Line>> {
    const out = new Map<string, Line>();
    if (ids.length === 0) return out;
    let continuation = '';
    do {
      const page = await this.o.twin.query({ hub, query: `SELECT * FROM devices WHERE deviceId IN [${ids.map(literal).join(', ')}]`, pageSize: ids.length, continuation });
      for (const t of JSON.parse(page.itemsJson) as Line[]) out.set(t['deviceId'] as string, t);
      continuation = page.continuation ?? '';
    } while (continuation);
    return out;
  }

  async #import(job: BulkJobRecord & { hub: string }): Promise<void> {
    let text: string;
    try {
      text = (await BlobContainer.fromSasUrl(job.inputUri!).download(DEVICES_BLOB)).toString('utf8');
    } catch (err) {
      if (!(err instanceof BlobRequestError)) throw err;
      throw new Error(`Could not read ${DEVICES_BLOB} from the input container: ${err.message}`);
    }
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    const errors: string[] = [];
    const logError = (deviceId: string, errorCode: string, errorStatus: string) => errors.push(JSON.stringify({ deviceId, errorCode, errorStatus }));
    for (let i = 0; i < lines.length; i += IMPORT_CHUNK) {
      const chunk: Array<{ line: Line; op: registryV1.BulkDeviceOperation }> = [];
      for (const [n, raw] of lines.slice(i, i + IMPORT_CHUNK).entries()) {
        try {
          const line = JSON.parse(raw) as unknown;
          if (!isObject(line)) throw new DomainError('BadFormat', 'A line must be a JSON object.');
          const mode = typeof line['importMode'] === 'string' ? line['importMode'] : 'createOrUpdate';
          const etag = typeof line['eTag'] === 'string' ? line['eTag'] : typeof line['etag'] === 'string' ? line['etag'] : '';
          chunk.push({ line, op: registryV1.BulkDeviceOperation.fromPartial({ device: deviceFromJson(line, undefined, 'id'), importMode: mode, etag }) });
        } catch (err) {
          logError(`line ${i + n + 1}`, err instanceof DomainError ? err.code : 'BadFormat', err instanceof Error ? err.message : String(err));
        }
      }
      // a twin eTag is checked against an existing twin only: a device this line creates has none yet
      const existed = new Set((await this.#twins(job.hub, chunk.map((c) => c.op.device!.deviceId))).keys());
      const failed = await this.#applyIdentities(job.hub, chunk.map((c) => c.op), logError);
      // twin data of the chunk's surviving lines, concurrently (each twin is its own row)
      await Promise.all(
        chunk.map(async ({ line, op }) => {
          const deviceId = op.device!.deviceId;
          if (failed.has(deviceId) || op.importMode.toLowerCase().startsWith('delete')) return;
          if (line['tags'] === undefined && line['properties'] === undefined) return;
          try {
            const twinETag = typeof line['twinETag'] === 'string' && existed.has(deviceId) ? `"${line['twinETag']}"` : undefined;
            await this.o.twin.importTwin({ key: { hub: job.hub, deviceId, moduleId: '' }, twinJson: JSON.stringify({ tags: line['tags'], properties: line['properties'] }), ifMatch: twinETag });
          } catch (err) {
            if (!(err instanceof DomainError) || TRANSIENT.has(err.code)) throw err;
            logError(deviceId, err.code, err.message);
          }
        }),
      );
      await this.#progress(job, Math.min(i + IMPORT_CHUNK, lines.length), lines.length);
    }
    if (errors.length > 0) {
      const log = errors.join('\n') + '\n';
      await BlobContainer.fromSasUrl(job.outputUri).upload(IMPORT_ERRORS_BLOB, log, { contentType: 'text/plain; charset=utf-8' });
    }
  }

  /** Applies identity operations through the registry's bulk API; a batch it refuses as a whole is retried line by line. Returns the failed ids. */
  async #applyIdentities(hub: string, ops: registryV1.BulkDeviceOperation[], logError: (id: string, code: string, status: string) => void): Promise<Set<string>> {
    const failed = new Set<string>();
    if (ops.length === 0) return failed;
    const record = (errors: readonly registryV1.BulkDeviceError[]) => {
      for (const e of errors) {
        failed.add(e.deviceId);
        logError(e.deviceId, e.errorCode, e.errorStatus);
      }
    };
    try {
      record((await this.o.registry.bulkDevices({ hub, operations: ops })).errors);
    } catch (err) {
      // the hub's own trouble fails the job (another process retries it after the lease); bad input is the line's
      if (!(err instanceof DomainError) || TRANSIENT.has(err.code)) throw err;
      if (ops.length === 1) record([{ deviceId: ops[0]!.device!.deviceId, errorCode: err.code, errorStatus: err.message }]);
      else for (const op of ops) for (const id of await this.#applyIdentities(hub, [op], logError)) failed.add(id);
    }
    return failed;
  }
}

/** One `devices.txt` line: the identity as the REST API shows it, renamed as IoT Hub exports it, with twin data. */
function exportLine(d: registryV1.Device, twin: Line | undefined, excludeKeys: boolean): Line {
  const j = deviceToJson(d);
  const auth = j['authentication'] as Line;
  const sym = auth['symmetricKey'] as Line;
  const authentication = excludeKeys ? { ...auth, symmetricKey: { primaryKey: null, secondaryKey: null } } : { ...auth, symmetricKey: sym };
  return {
    id: d.deviceId,
    eTag: d.etag,
    status: d.status,
    ...(d.statusReason ? { statusReason: d.statusReason } : {}),
    authentication,
    capabilities: { iotEdge: d.iotEdge },
    ...(twin ? { twinETag: twin['etag'], tags: twin['tags'], properties: twin['properties'] } : {}),
  };
}
