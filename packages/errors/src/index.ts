export { errorCodes, isErrorCode, GrpcStatus, ConnackCode } from './codes.js';
export type { ErrorCode, ErrorCodeSpec } from './codes.js';
export {
  DomainError,
  DeviceNotFoundError,
  ArgumentInvalidError,
  UnauthorizedError,
  PreconditionFailedError,
  toDomainError,
  domainErrorFromCode,
} from './domain-error.js';
export { toHttpError, JSON_CONTENT_TYPE } from './http.js';
export type { HttpErrorResponse } from './http.js';
