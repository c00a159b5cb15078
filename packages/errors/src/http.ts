import { randomUUID } from 'node:crypto';
import type { DomainError } from './domain-error.js';

/** Content type of every IoT Hub JSON answer; the SDKs parse bodies only when it says application/json. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** An HTTP error response in the IoT Hub format. */
export interface HttpErrorResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * The one mapping from DomainError to an HTTP answer: `{"Message":"ErrorCode:X;text","ExceptionMessage":…}`
 * (spec/sdk-compat.md §6: the SDK splits Message on `;` and `:`).
 */
export function toHttpError(err: DomainError, now: Date = new Date()): HttpErrorResponse {
  const trackingId = randomUUID().replace(/-/g, '');
  const body = JSON.stringify({
    Message: `ErrorCode:${err.code};${err.message}`,
    ExceptionMessage: `Tracking ID:${trackingId}-TimeStamp:${now.toISOString()}`,
  });
  return {
    status: err.spec.http,
    headers: { 'content-type': JSON_CONTENT_TYPE, 'iothub-errorcode': err.code },
    body,
  };
}
