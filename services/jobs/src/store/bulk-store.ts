import { DomainError } from '@openiothub/errors';
import { withTransaction, type Pool } from '@openiothub/postgres';
import type { BulkJobRecord, BulkStatus, BulkType, NewBulkJob } from '../domain/bulk-job.js';

type Row = Record<string, unknown>;

function toRecord(r: Row): BulkJobRecord {
  return {
    jobId: r['job_id'] as string,
    type: r['type'] as BulkType,
    status: r['status'] as BulkStatus,
    progress: Number(r['progress']),
    ...(r['input_uri'] ? { inputUri: r['input_uri'] as string } : {}),
    outputUri: r['output_uri'] as string,
    excludeKeys: Boolean(r['exclude_keys']),
    createdTime: r['created_time'] as Date,
    startTime: (r['start_time'] as Date | null) ?? null,
    endTime: (r['end_time'] as Date | null) ?? null,
    failureReason: (r['failure_reason'] as string | null) ?? null,
  };
}

/** Import/export jobs in Postgres (`jobs.bulk_jobs`). */
export class BulkJobStore {
  constructor(
    private readonly pool: Pool,
    private readonly hubs?: readonly string[],
  ) {}

  /** Stores a new job; 429 while the hub has an import or export job enqueued or running (one at a time per hub). */
  async create(hub: string, job: NewBulkJob): Promise<BulkJobRecord> {
    return withTransaction(this.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 13))', [`bulk:${hub}`]);
      const active = await c.query("SELECT job_id FROM jobs.bulk_jobs WHERE hub = $1 AND status IN ('enqueued', 'running') LIMIT 1", [hub]);
      if (active.rows.length > 0) throw new DomainError('ThrottlingException', `Import/export job ${String(active.rows[0]!['job_id'])} is still active; a hub runs one at a time.`);
      const { rows } = await c.query<Row>(
        `INSERT INTO jobs.bulk_jobs (hub, job_id, type, status, input_uri, output_uri, exclude_keys) VALUES ($1, $2, $3, 'enqueued', $4, $5, $6) RETURNING *`,
        [hub, job.jobId, job.type, job.inputUri ?? null, job.outputUri, job.excludeKeys],
      );
      return toRecord(rows[0]!);
    });
  }

  async get(hub: string, jobId: string): Promise<BulkJobRecord | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM jobs.bulk_jobs WHERE hub = $1 AND job_id = $2', [hub, jobId]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(hub: string): Promise<BulkJobRecord[]> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM jobs.bulk_jobs WHERE hub = $1 ORDER BY created_time DESC LIMIT 100', [hub]);
    return rows.map(toRecord);
  }

  /** Cancels an active job (the runner notices at its next progress report); false when there is no such job. */
  async cancel(hub: string, jobId: string): Promise<boolean> {
    const r = await this.pool.query<Row>(
      `UPDATE jobs.bulk_jobs SET status = CASE WHEN status IN ('enqueued', 'running') THEN 'cancelled' ELSE status END,
         end_time = CASE WHEN status IN ('enqueued', 'running') THEN now() ELSE end_time END
       WHERE hub = $1 AND job_id = $2 RETURNING 1`,
      [hub, jobId],
    );
    return r.rowCount === 1;
  }

  /** Takes an enqueued job, or a running one whose process died (lease lapsed), under a lease. */
  async claim(leaseMs: number): Promise<(BulkJobRecord & { hub: string }) | undefined> {
    const params: unknown[] = [leaseMs];
    let scope = '';
    if (this.hubs) {
      params.push(this.hubs);
      scope = ' AND hub = ANY($2::text[])';
    }
    const { rows } = await this.pool.query<Row>(
      `UPDATE jobs.bulk_jobs b SET status = 'running', progress = 0, start_time = COALESCE(b.start_time, now()),
         lease_until = now() + make_interval(secs => $1::double precision / 1000)
       FROM (SELECT hub, job_id FROM jobs.bulk_jobs
             WHERE (status = 'enqueued' OR (status = 'running' AND lease_until < now()))${scope}
             ORDER BY created_time LIMIT 1 FOR UPDATE SKIP LOCKED) c
       WHERE b.hub = c.hub AND b.job_id = c.job_id RETURNING b.*`,
      params,
    );
    return rows[0] ? { ...toRecord(rows[0]), hub: rows[0]['hub'] as string } : undefined;
  }

  /** Records progress and renews the lease; false when the job is no longer running (cancelled). */
  async progress(hub: string, jobId: string, percent: number, leaseMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE jobs.bulk_jobs SET progress = $3, lease_until = now() + make_interval(secs => $4::double precision / 1000)
       WHERE hub = $1 AND job_id = $2 AND status = 'running'`,
      [hub, jobId, Math.max(0, Math.min(100, Math.floor(percent))), leaseMs],
    );
    return r.rowCount === 1;
  }

  async finish(hub: string, jobId: string, outcome: { status: 'completed' } | { status: 'failed'; reason: string }): Promise<void> {
    await this.pool.query(
      `UPDATE jobs.bulk_jobs SET status = $3, progress = CASE WHEN $3 = 'completed' THEN 100 ELSE progress END, end_time = now(), failure_reason = $4, lease_until = NULL
       WHERE hub = $1 AND job_id = $2 AND status = 'running'`,
      [hub, jobId, outcome.status, outcome.status === 'failed' ? outcome.reason : null],
    );
  }
}
