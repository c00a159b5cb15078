import type { HubMetrics } from '@openiothub/runtime';
import { invokeMethod, type NatsConnection } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import type { twinV1, PromiseClient } from '@openiothub/proto';
import type { ClaimedDeviceJob, DeviceJobResult, JobStore } from '../store/job-store.js';

/** Device ids per page when a job lists its targets through the twin query engine. */
const EXPANSION_PAGE = 10_000;
const SWEEP_EVERY_MS = 1000;
const TRANSIENT = new Set(['ServiceUnavailable', 'ServerError']);
const RECORD_BATCH = 200;
const RECORD_DELAY_MS = 10;

export interface RunnerOptions {
  readonly store: JobStore;
  readonly twin: PromiseClient<twinV1.TwinServiceClient>;
  readonly nc: NatsConnection;
  readonly log: Logger;
  readonly pollMs: number;
  readonly maxInFlight: number;
  readonly ratePerSecond: number;
  readonly expansionLeaseMs: number;
  readonly historyDays: number;
  /** Azure Monitor's metrics by hub (jobs completed and failed). */
  readonly hubMetrics?: HubMetrics;
}

/**
 * One jobs process's worker. Every poll it starts jobs whose time has come (listing their devices
 * through the twin query engine), claims device operations up to its in-flight limit and the
 * hubs' shared rates, runs them (a direct method over NATS, or a twin update over gRPC) and
 * records each result; once a second it sweeps (completion, time-outs, history). All coordination
 * is in Postgres, so any number of processes share the work and a job survives any of them.
 */
export class JobRunner {
  readonly #o: RunnerOptions;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #expanding = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #stopped = false;
  #lastSweep = 0;
  #hubCursor = 0;
  readonly #toRecord: Array<{ claim: ClaimedDeviceJob; result: DeviceJobResult; resolve(): void; reject(err: unknown): void }> = [];
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(options: RunnerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#o.pollMs);
    this.#timer.unref();
    void this.tick();
  }

  /**
   * Stops claiming and waits (at most `graceMs`) for the operations in flight to be recorded; any
   * still out (a method waiting on a slow device) are left to their leases, and run again elsewhere.
   */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...this.#inFlight]), grace]);
    clearTimeout(timer);
  }

  /** One pass; passes never overlap. Exposed for tests that want to drive the runner. */
  async tick(): Promise<void> {
    if (this.#ticking || this.#stopped) return;
    this.#ticking = true;
    try {
      await this.#startJobs();
      await this.#claim();
      if (Date.now() - this.#lastSweep >= SWEEP_EVERY_MS) {
        this.#lastSweep = Date.now();
        const swept = await this.#o.store.sweep(this.#o.historyDays);
        if (swept.timedOut.length > 0) this.#o.log.info({ category: 'JobsOperations', timedOut: swept.timedOut.length }, 'jobs failed: maximum execution time reached');
        // Azure's jobs.completed / jobs.failed (protocols-ops §7.1)
        for (const hub of swept.completed) this.#o.hubMetrics?.count('jobs.completed', hub);
        for (const hub of swept.timedOut) this.#o.hubMetrics?.count('jobs.failed', hub);
      }
    } catch (err) {
      this.#o.log.warn({ category: 'JobsOperations', err }, 'jobs pass failed; will retry');
    } finally {
      this.#ticking = false;
    }
  }

  async #startJobs(): Promise<void> {
    while (this.#expanding.size < 2) {
      const job = await this.#o.store.claimStart(this.#o.expansionLeaseMs);
      if (!job) return;
      const key = `${job.hub}\n${job.jobId}`;
      this.#expanding.add(key);
      void this.#expand(job)
        .catch((err: unknown) => this.#o.log.warn({ category: 'JobsOperations', err, hub: job.hub, jobId: job.jobId }, 'listing the devices of a job failed; another pass will retry after the lease'))
        .finally(() => this.#expanding.delete(key));
    }
  }

  /** Lists the job's devices page by page into device_jobs; workers start on the first page at once. */
  async #expand(job: { hub: string; jobId: string; queryCondition: string }): Promise<void> {
    let continuation = '';
    do {
      const page = await this.#o.twin.query({ hub: job.hub, query: `SELECT deviceId FROM devices WHERE ${job.queryCondition}`, pageSize: EXPANSION_PAGE, continuation });
      const ids = (JSON.parse(page.itemsJson) as Array<{ deviceId: string }>).map((r) => r.deviceId);
      if (!(await this.#o.store.addDevices(job.hub, job.jobId, ids, this.#o.expansionLeaseMs))) return; // cancelled meanwhile
      continuation = page.continuation ?? '';
    } while (continuation);
    await this.#o.store.finishExpansion(job.hub, job.jobId);
  }

  async #claim(): Promise<void> {
    const hubs = await this.#o.store.runningHubs();
    if (hubs.length === 0) return;
    // visit hubs round-robin so one hub's big job cannot starve another's
    for (let i = 0; i < hubs.length; i++) {
      const room = this.#o.maxInFlight - this.#inFlight.size;
      if (room <= 0) return;
      const hub = hubs[(this.#hubCursor + i) % hubs.length]!;
      const claims = await this.#o.store.claimDevices(hub, Math.max(1, Math.floor(room / (hubs.length - i))), this.#o.ratePerSecond);
      for (const claim of claims) this.#run(claim);
    }
    this.#hubCursor++;
  }

  #run(claim: ClaimedDeviceJob): void {
    const p = this.#execute(claim)
      .then((result) => this.#record(claim, result))
      .catch((err: unknown) => this.#o.log.warn({ category: 'JobsOperations', err, hub: claim.hub, jobId: claim.jobId, deviceId: claim.deviceId }, 'recording a device job failed; its lease will lapse and it will run again'))
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }

  /** Queues a result; results are written together, up to RECORD_BATCH at a time (one statement instead of one per device). */
  #record(claim: ClaimedDeviceJob, result: DeviceJobResult): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#toRecord.push({ claim, result, resolve, reject });
      if (this.#toRecord.length >= RECORD_BATCH) void this.#flush();
      else this.#flushTimer ??= setTimeout(() => void this.#flush(), RECORD_DELAY_MS);
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#toRecord.splice(0, RECORD_BATCH);
    if (batch.length === 0) return;
    try {
      await this.#o.store.recordMany(batch);
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
    if (this.#toRecord.length > 0) void this.#flush();
    // room for more: claim again now rather than at the next poll
    else if (!this.#stopped) setImmediate(() => void this.tick());
  }

  async #execute(claim: ClaimedDeviceJob): Promise<DeviceJobResult> {
    const op = claim.operation;
    try {
      if ('cloudToDeviceMethod' in op) {
        const r = await invokeMethod(this.#o.nc, { hub: claim.hub, deviceId: claim.deviceId }, op.cloudToDeviceMethod);
        return { status: 'completed', outcome: { deviceMethodResponse: { status: r.status, payload: r.payload } } };
      }
      await this.#o.twin.updateTwin({ key: { hub: claim.hub, deviceId: claim.deviceId, moduleId: '' }, patchJson: JSON.stringify(op.updateTwin), ifMatch: '*' });
      return { status: 'completed', outcome: { deviceMethodResponse: null } };
    } catch (err) {
      // the hub's own trouble (a service down, an internal error) is not the device's: leave the
      // claim unrecorded, so its lease lapses and the operation runs again (bounded by the job's time)
      if (!(err instanceof DomainError) || TRANSIENT.has(err.code)) throw err;
      return { status: 'failed', error: { code: err.code, description: err.message } };
    }
  }
}
