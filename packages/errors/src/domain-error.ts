import { errorCodes, isErrorCode, type ErrorCode, type ErrorCodeSpec } from './codes.js';

/**
 * Every error that should reach a client as an IoT Hub error. The `code` decides the wire form on
 * each transport; `message` is the human text after `ErrorCode:X;`.
 */
export class DomainError extends Error {
  override readonly name: string = 'DomainError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The transport mapping for this error's code. */
  get spec(): ErrorCodeSpec {
    return errorCodes[this.code];
  }
}

/** 404 for a device that does not exist. */
export class DeviceNotFoundError extends DomainError {
  override readonly name = 'DeviceNotFoundError';
  constructor(deviceId: string) {
    super('DeviceNotFound', `Device ${deviceId} not found.`, { details: { deviceId } });
  }
}

/** 400 for anything wrong with what the caller sent. */
export class ArgumentInvalidError extends DomainError {
  override readonly name = 'ArgumentInvalidError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('ArgumentInvalid', message, { details });
  }
}

/** 401: the credential is missing, malformed, expired or wrong, or lacks the permission. */
export class UnauthorizedError extends DomainError {
  override readonly name = 'UnauthorizedError';
  constructor(message = 'Unauthorized', details: Record<string, unknown> = {}) {
    super('IotHubUnauthorizedAccess', message, { details });
  }
}

/** 412: the If-Match etag no longer matches. */
export class PreconditionFailedError extends DomainError {
  override readonly name = 'PreconditionFailedError';
  constructor(message: string) {
    super('PreconditionFailed', message);
  }
}

/**
 * Turn anything thrown into a DomainError. Unknown errors become `ServerError` with the original
 * kept as `cause`, so nothing internal leaks onto the wire but logs still see it.
 */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  return new DomainError('ServerError', 'An internal error occurred.', { cause: err });
}

/** Rebuild a DomainError from a code name received over a service boundary. */
export function domainErrorFromCode(code: string, message: string): DomainError {
  return new DomainError(isErrorCode(code) ? code : 'ServerError', message);
}
