import { parseInvocation } from '@openiothub/bus';
import { ArgumentInvalidError } from '@openiothub/errors';
import { parseExpression, QuerySyntaxError } from '@openiothub/query';

export type JobType = 'scheduleDeviceMethod' | 'scheduleUpdateTwin';
export type JobStatus = 'queued' | 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled'];

/**
 * The spellings seen for the two job types (scenario 20): the SDK sends `scheduleDeviceMethod` /
 * `scheduleUpdateTwin`, the REST docs `scheduleDirectMethod` / `scheduleTwinUpdate`, the
 * properties table `scheduledDeviceMethod` / `scheduledUpdateTwin`. All are accepted; the service
 * answers with the SDK's.
 */
const TYPE_SPELLINGS: Record<string, JobType> = {
  scheduledevicemethod: 'scheduleDeviceMethod',
  scheduledirectmethod: 'scheduleDeviceMethod',
  scheduleddevicemethod: 'scheduleDeviceMethod',
  scheduleupdatetwin: 'scheduleUpdateTwin',
  scheduletwinupdate: 'scheduleUpdateTwin',
  scheduledupdatetwin: 'scheduleUpdateTwin',
};

export function jobTypeOf(name: string): JobType | undefined {
  return TYPE_SPELLINGS[name.toLowerCase()];
}

/** `cancelled` as the service spells it; `canceled` (the docs) is accepted in filters. */
export function jobStatusOf(name: string): JobStatus | undefined {
  const s = name.toLowerCase() === 'canceled' ? 'cancelled' : name.toLowerCase();
  return (JOB_STATUSES as readonly string[]).includes(s) ? (s as JobStatus) : undefined;
}

/** What each device of a job gets. */
export type DeviceOperation =
  | { readonly cloudToDeviceMethod: { methodName: string; payload: unknown; responseTimeoutInSeconds: number; connectTimeoutInSeconds: number } }
  | { readonly updateTwin: { tags?: unknown; properties?: { desired: unknown } } };

export interface NewJob {
  readonly jobId: string;
  readonly type: JobType;
  readonly queryCondition: string;
  readonly startTime: Date;
  readonly maxExecutionTimeInSeconds: number;
  readonly operation: DeviceOperation;
}

const JOB_ID = /^[A-Za-z0-9\-.+%_#*?!(),=@$']{1,128}$/;
const DEFAULT_MAX_EXECUTION_SECONDS = 3600;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a `PUT /jobs/v2/{jobId}` body (devguide §14.2, sdk-compat §8.1) into a job; bad input is 400 ArgumentInvalid. */
export function parseNewJob(jobId: string, body: unknown, now: Date): NewJob {
  if (!JOB_ID.test(jobId)) throw new ArgumentInvalidError('The job id must be 1-128 characters: ASCII letters, digits and - . + % _ # * ? ! ( ) , = @ $ \'.');
  if (!isObject(body)) throw new ArgumentInvalidError('A job must be a JSON object.');
  if (body['jobId'] !== undefined && body['jobId'] !== jobId) throw new ArgumentInvalidError(`The body's jobId "${String(body['jobId'])}" differs from the job id in the path "${jobId}".`);
  const type = typeof body['type'] === 'string' ? jobTypeOf(body['type']) : undefined;
  if (!type) throw new ArgumentInvalidError('type must be scheduleDeviceMethod or scheduleUpdateTwin.');
  const queryCondition = body['queryCondition'];
  if (typeof queryCondition !== 'string' || queryCondition.trim() === '') throw new ArgumentInvalidError("queryCondition is required, e.g. \"deviceId IN ['MyDevice1','MyDevice2']\".");
  try {
    parseExpression(queryCondition, { dialect: 'twin' });
  } catch (err) {
    if (err instanceof QuerySyntaxError) throw new ArgumentInvalidError(`Invalid queryCondition: ${err.message}`, { position: err.position });
    throw err;
  }
  let startTime = now;
  const start = body['startTime'];
  if (start !== undefined && start !== null) {
    const t = typeof start === 'string' ? new Date(start) : undefined;
    if (!t || Number.isNaN(t.getTime())) throw new ArgumentInvalidError('startTime must be an ISO-8601 date.');
    startTime = t;
  }
  const maxRaw = body['maxExecutionTimeInSeconds'];
  const max = maxRaw === undefined || maxRaw === null ? DEFAULT_MAX_EXECUTION_SECONDS : maxRaw;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 7 * 24 * 3600) throw new ArgumentInvalidError('maxExecutionTimeInSeconds must be a whole number of seconds from 1 to 604800.');
  return { jobId, type, queryCondition, startTime, maxExecutionTimeInSeconds: max, operation: type === 'scheduleDeviceMethod' ? methodOperation(body) : twinOperation(body) };
}

function methodOperation(body: Record<string, unknown>): DeviceOperation {
  const m = body['cloudToDeviceMethod'];
  if (!isObject(m)) throw new ArgumentInvalidError('cloudToDeviceMethod {methodName, payload, responseTimeoutInSeconds} is required for a method job.');
  const inv = parseInvocation(m);
  return { cloudToDeviceMethod: { methodName: inv.methodName, payload: inv.payload, responseTimeoutInSeconds: inv.responseTimeoutInSeconds, connectTimeoutInSeconds: inv.connectTimeoutInSeconds } };
}

/** A twin-update job's patch: tags and/or desired properties; `etag` is ignored (always `*`), an empty `reported: {}` too. */
function twinOperation(body: Record<string, unknown>): DeviceOperation {
  const patch = body['updateTwin'];
  if (!isObject(patch)) throw new ArgumentInvalidError('updateTwin (a twin patch object) is required for a twin-update job.');
  const props = patch['properties'];
  if (props !== undefined && props !== null && !isObject(props)) throw new ArgumentInvalidError('updateTwin.properties must be an object.');
  const reported = isObject(props) ? props['reported'] : undefined;
  if (reported !== undefined && !(isObject(reported) && Object.keys(reported).length === 0)) {
    throw new ArgumentInvalidError('A twin-update job cannot write reported properties: the device owns them.');
  }
  const desired = isObject(props) ? props['desired'] : undefined;
  const tags = patch['tags'];
  if (tags === undefined && desired === undefined) throw new ArgumentInvalidError('updateTwin must contain tags or properties.desired.');
  return { updateTwin: { ...(tags !== undefined ? { tags } : {}), ...(desired !== undefined ? { properties: { desired } } : {}) } };
}

/** Device counts of a job (`deviceJobStatistics`). */
export interface JobStatistics {
  deviceCount: number;
  failedCount: number;
  succeededCount: number;
  runningCount: number;
  pendingCount: number;
}

/** A stored job, as the store reads it. */
export interface JobRecord {
  readonly jobId: string;
  readonly type: JobType;
  readonly status: JobStatus;
  readonly queryCondition: string;
  readonly operation: DeviceOperation;
  readonly createdTime: Date;
  readonly startTime: Date;
  readonly endTime: Date | null;
  readonly maxExecutionTimeInSeconds: number;
  readonly failureReason: string | null;
  readonly statusMessage: string | null;
  readonly statistics: JobStatistics;
}

/** The job as `GET /jobs/v2/{id}` shows it. */
export function jobJson(j: JobRecord): Record<string, unknown> {
  return {
    jobId: j.jobId,
    queryCondition: j.queryCondition,
    createdTime: j.createdTime.toISOString(),
    startTime: j.startTime.toISOString(),
    ...(j.endTime ? { endTime: j.endTime.toISOString() } : {}),
    maxExecutionTimeInSeconds: j.maxExecutionTimeInSeconds,
    type: j.type,
    ...j.operation,
    status: j.status,
    ...(j.failureReason ? { failureReason: j.failureReason } : {}),
    ...(j.statusMessage ? { statusMessage: j.statusMessage } : {}),
    deviceJobStatistics: j.statistics,
  };
}
