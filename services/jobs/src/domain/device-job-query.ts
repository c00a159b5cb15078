import { ArgumentInvalidError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';
import { conditionSql, parseSelect, QuerySyntaxError, SqlParams, type PathRef, type SqlSchema, type SqlValue } from '@openiothub/query';

/** Rows per page: the REST API's default and most (the gateway caps x-ms-max-item-count). */
const DEFAULT_PAGE_SIZE = 100;

const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * `devices.jobs` (devguide §16.4): one record per device and job, addressed as
 * `devices.jobs.<field>` (or the bare field name). Twin properties are not part of these records,
 * so conditions on them match nothing, as IoT Hub allows none.
 */
const FIELDS: Record<string, SqlValue> = {
  deviceid: { sql: 'd.device_id', kind: 'text' },
  jobid: { sql: 'd.job_id', kind: 'text' },
  jobtype: { sql: 'j.type', kind: 'text' },
  status: { sql: 'd.status', kind: 'text' },
  starttimeutc: { sql: `to_jsonb(${iso('d.start_time')})`, kind: 'jsonb' },
  endtimeutc: { sql: `to_jsonb(${iso('d.end_time')})`, kind: 'jsonb' },
  createddatetimeutc: { sql: `to_jsonb(${iso('d.created_at')})`, kind: 'jsonb' },
  // the docs' example writes createdTimeUtc
  createdtimeutc: { sql: `to_jsonb(${iso('d.created_at')})`, kind: 'jsonb' },
  lastupdateddatetimeutc: { sql: `to_jsonb(${iso('d.updated_at')})`, kind: 'jsonb' },
};

const schema: SqlSchema = {
  field(path: PathRef, params: SqlParams): SqlValue | undefined {
    let segs = [path.root, ...path.segments];
    if (String(segs[0]).toLowerCase() === 'devices' && String(segs[1]).toLowerCase() === 'jobs') segs = segs.slice(2);
    const [first, ...rest] = segs;
    if (first === undefined) return undefined;
    const name = String(first).toLowerCase();
    if (rest.length === 0) return FIELDS[name];
    if (name === 'outcome' || name === 'error') return { sql: `(d.${name} #> ${params.add(rest.map(String))}::text[])`, kind: 'jsonb' };
    return undefined;
  },
};

interface Cursor {
  k: [string, string];
}

/** Answers `SELECT * FROM devices.jobs [WHERE …]`, straight from Postgres, paged by (job id, device id). */
export async function queryDeviceJobs(pool: Pool, hub: string, text: string, pageSize: number, continuation: string): Promise<{ items: unknown[]; continuation?: string }> {
  let stmt;
  try {
    stmt = parseSelect(text);
  } catch (err) {
    if (err instanceof QuerySyntaxError) throw new ArgumentInvalidError(`Invalid query: ${err.message}`, { position: err.position });
    throw err;
  }
  if (stmt.from !== 'devices.jobs') throw new ArgumentInvalidError('Only devices.jobs queries are answered by the jobs service.');
  const size = pageSize > 0 ? Math.min(pageSize, 10_000) : DEFAULT_PAGE_SIZE;
  const cursor = decode(continuation);
  const taken = cursor?.n ?? 0;
  const limit = stmt.top === undefined ? size : Math.min(size, stmt.top - taken);
  if (limit <= 0) return { items: [] };
  const params = new SqlParams();
  const where = [`d.hub = ${params.add(hub)}`];
  if (stmt.where) where.push(conditionSql(stmt.where, schema, params));
  if (cursor) where.push(`(d.job_id, d.device_id) > (${params.add(cursor.k[0])}::text, ${params.add(cursor.k[1])}::text)`);
  const q = params.render(
    `SELECT d.*, j.type FROM jobs.device_jobs d JOIN jobs.jobs j ON j.hub = d.hub AND j.job_id = d.job_id WHERE ${where.join(' AND ')} ORDER BY d.job_id, d.device_id LIMIT ${limit + 1}`,
  );
  const { rows } = await pool.query<Record<string, unknown>>(q.text, q.values);
  const page = rows.slice(0, limit);
  const items = page.map((r) => ({
    deviceId: r['device_id'],
    jobId: r['job_id'],
    jobType: r['type'],
    status: r['status'],
    ...(r['start_time'] ? { startTimeUtc: (r['start_time'] as Date).toISOString() } : {}),
    ...(r['end_time'] ? { endTimeUtc: (r['end_time'] as Date).toISOString() } : {}),
    createdDateTimeUtc: (r['created_at'] as Date).toISOString(),
    lastUpdatedDateTimeUtc: (r['updated_at'] as Date).toISOString(),
    outcome: r['outcome'] ?? { deviceMethodResponse: null },
    ...(r['error'] ? { error: r['error'] } : {}),
  }));
  const last = page[page.length - 1];
  const more = rows.length > limit && last !== undefined && (stmt.top === undefined || taken + page.length < stmt.top);
  return { items, ...(more ? { continuation: encode({ k: [last['job_id'] as string, last['device_id'] as string], n: taken + page.length }) } : {}) };
}

const encode = (c: Cursor & { n: number }) => Buffer.from(JSON.stringify(c)).toString('base64url');

function decode(token: string): (Cursor & { n: number }) | undefined {
  if (!token) return undefined;
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString()) as Cursor & { n: number };
    if (Array.isArray(c.k) && c.k.length === 2 && c.k.every((k) => typeof k === 'string') && Number.isInteger(c.n) && c.n >= 0) return c;
  } catch {
    // fall through
  }
  throw new ArgumentInvalidError('The continuation token is not valid for this query.');
}
