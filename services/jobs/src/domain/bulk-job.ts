import { randomUUID } from 'node:crypto';
import { ArgumentInvalidError } from '@openiothub/errors';

export type BulkType = 'export' | 'import';
export type BulkStatus = 'enqueued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface NewBulkJob {
  readonly jobId: string;
  readonly type: BulkType;
  readonly inputUri?: string;
  readonly outputUri: string;
  readonly excludeKeys: boolean;
}

export interface BulkJobRecord extends NewBulkJob {
  readonly status: BulkStatus;
  readonly progress: number;
  readonly createdTime: Date;
  readonly startTime: Date | null;
  readonly endTime: Date | null;
  readonly failureReason: string | null;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function containerUri(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new ArgumentInvalidError(`${name} is required: a blob container URL with a SAS token.`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ArgumentInvalidError(`${name} is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ArgumentInvalidError(`${name} must be an http(s) blob container URL.`);
  return v;
}

/**
 * Validates a `POST /jobs/create` body: `{"type":"export","outputBlobContainerUri","excludeKeysInExport"}`
 * or `{"type":"import","inputBlobContainerUri","outputBlobContainerUri"}` (sdk-compat §8.1).
 * Identity-based storage authentication needs a cloud identity the hub does not have here.
 */
export function parseBulkJob(body: unknown): NewBulkJob {
  if (!isObject(body)) throw new ArgumentInvalidError('A job must be a JSON object.');
  const type = typeof body['type'] === 'string' ? body['type'].toLowerCase() : '';
  if (type !== 'export' && type !== 'import') throw new ArgumentInvalidError('type must be export or import.');
  if (typeof body['storageAuthenticationType'] === 'string' && body['storageAuthenticationType'].toLowerCase() === 'identitybased') {
    throw new ArgumentInvalidError('Identity-based storage authentication is not available on this hub; pass container URLs with SAS tokens.');
  }
  const outputUri = containerUri(body['outputBlobContainerUri'], 'outputBlobContainerUri');
  const exclude = body['excludeKeysInExport'] ?? false;
  if (typeof exclude !== 'boolean') throw new ArgumentInvalidError('excludeKeysInExport must be true or false.');
  return {
    jobId: randomUUID(),
    type,
    ...(type === 'import' ? { inputUri: containerUri(body['inputBlobContainerUri'], 'inputBlobContainerUri') } : {}),
    outputUri,
    excludeKeys: exclude,
  };
}

/** The job as `GET /jobs/{id}` shows it (the SDK's JobProperties). */
export function bulkJobJson(j: BulkJobRecord): Record<string, unknown> {
  return {
    jobId: j.jobId,
    type: j.type,
    status: j.status,
    progress: j.progress,
    ...(j.startTime ? { startTimeUtc: j.startTime.toISOString() } : {}),
    ...(j.endTime ? { endTimeUtc: j.endTime.toISOString() } : {}),
    ...(j.inputUri ? { inputBlobContainerUri: j.inputUri } : {}),
    outputBlobContainerUri: j.outputUri,
    excludeKeysInExport: j.excludeKeys,
    ...(j.failureReason ? { failureReason: j.failureReason } : {}),
  };
}
