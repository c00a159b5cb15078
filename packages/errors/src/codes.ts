/**
 * The one closed list of Open IoT Hub error codes. Each row says how the error looks on every
 * transport: the HTTP status and IoT Hub `ErrorCode` name the SDKs parse, the gRPC status used
 * between services, the MQTT CONNACK return code (for errors raised while connecting) and the
 * AMQP error condition. Names are IoT Hub's own, so `{"Message":"ErrorCode:<name>;…"}` matches
 * what the Azure SDKs expect (spec/sdk-compat.md §6).
 */

/** gRPC status codes (numeric, as on the wire), spelled here so this package has no grpc dependency. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatus = (typeof GrpcStatus)[keyof typeof GrpcStatus];

/** MQTT 3.1.1 CONNACK return codes. */
export const ConnackCode = {
  accepted: 0,
  unacceptableProtocolVersion: 1,
  identifierRejected: 2,
  serverUnavailable: 3,
  badUsernameOrPassword: 4,
  notAuthorized: 5,
} as const;
export type ConnackCode = (typeof ConnackCode)[keyof typeof ConnackCode];

/** What one error code means on each transport. */
export interface ErrorCodeSpec {
  readonly http: number;
  readonly grpc: GrpcStatus;
  readonly connack: ConnackCode;
  readonly amqp: string;
  /** IoT Hub's six-digit code, as in diagnostic logs (`404001`). */
  readonly numeric: number;
}

const row = (http: number, grpc: GrpcStatus, connack: ConnackCode, amqp: string, numeric: number): ErrorCodeSpec => ({
  http,
  grpc,
  connack,
  amqp,
  numeric,
});

const { serverUnavailable, notAuthorized, badUsernameOrPassword, identifierRejected } = ConnackCode;

/** The table. Keys are IoT Hub error code names. */
export const errorCodes = {
  // 400
  ArgumentInvalid: row(400, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:invalid-field', 400004),
  ArgumentNull: row(400, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:invalid-field', 400005),
  BadFormat: row(400, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:decode-error', 400006),
  InvalidProtocolVersion: row(400, GrpcStatus.INVALID_ARGUMENT, ConnackCode.unacceptableProtocolVersion, 'amqp:not-implemented', 400001),
  DeviceInvalidResultCount: row(400, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:invalid-field', 400002),
  InvalidOperation: row(400, GrpcStatus.FAILED_PRECONDITION, notAuthorized, 'amqp:not-allowed', 400003),
  TooManyModulesOnDevice: row(400, GrpcStatus.RESOURCE_EXHAUSTED, notAuthorized, 'amqp:resource-limit-exceeded', 400007),
  // the Event Hubs-compatible endpoint's word for a partition that does not exist (spec/eventhubs-amqp.md §3.4)
  ArgumentOutOfRange: row(400, GrpcStatus.OUT_OF_RANGE, notAuthorized, 'com.microsoft:argument-out-of-range', 400027),
  // 401
  IotHubUnauthorizedAccess: row(401, GrpcStatus.UNAUTHENTICATED, notAuthorized, 'amqp:unauthorized-access', 401002),
  IotHubUnauthorized: row(401, GrpcStatus.UNAUTHENTICATED, badUsernameOrPassword, 'amqp:unauthorized-access', 401003),
  // 403
  IotHubQuotaExceeded: row(403, GrpcStatus.RESOURCE_EXHAUSTED, serverUnavailable, 'amqp:resource-limit-exceeded', 403002),
  DeviceMaximumQueueDepthExceeded: row(403, GrpcStatus.RESOURCE_EXHAUSTED, serverUnavailable, 'amqp:resource-limit-exceeded', 403004),
  // the 11th outstanding file upload of a device (devguide §8.4)
  DeviceMaximumActiveFileUploadLimitExceeded: row(403, GrpcStatus.RESOURCE_EXHAUSTED, serverUnavailable, 'amqp:resource-limit-exceeded', 403006),
  IotHubSuspended: row(403, GrpcStatus.PERMISSION_DENIED, serverUnavailable, 'com.microsoft:iot-hub-suspended', 403005),
  DeviceDisabled: row(403, GrpcStatus.PERMISSION_DENIED, notAuthorized, 'amqp:unauthorized-access', 403010),
  // a standard-tier feature on a Basic (B1-B3) hub (protocols-ops §0.1, A-1)
  IotHubNotSupported: row(403, GrpcStatus.PERMISSION_DENIED, notAuthorized, 'amqp:not-allowed', 403000),
  // 404
  IotHubNotFound: row(404, GrpcStatus.NOT_FOUND, identifierRejected, 'amqp:not-found', 404001),
  DeviceNotFound: row(404, GrpcStatus.NOT_FOUND, notAuthorized, 'amqp:not-found', 404001),
  ModuleNotFound: row(404, GrpcStatus.NOT_FOUND, notAuthorized, 'amqp:not-found', 404010),
  JobNotFound: row(404, GrpcStatus.NOT_FOUND, notAuthorized, 'amqp:not-found', 404002),
  DeviceNotOnline: row(404, GrpcStatus.NOT_FOUND, notAuthorized, 'amqp:not-found', 404103),
  NotFound: row(404, GrpcStatus.NOT_FOUND, notAuthorized, 'amqp:not-found', 404000),
  // 405 / 409 / 412 / 413
  MethodNotAllowed: row(405, GrpcStatus.UNIMPLEMENTED, notAuthorized, 'amqp:not-implemented', 405000),
  DeviceAlreadyExists: row(409, GrpcStatus.ALREADY_EXISTS, notAuthorized, 'amqp:resource-locked', 409001),
  ModuleAlreadyExistsOnDevice: row(409, GrpcStatus.ALREADY_EXISTS, notAuthorized, 'amqp:resource-locked', 409301),
  LinkCreationConflict: row(409, GrpcStatus.ABORTED, serverUnavailable, 'amqp:link:stolen', 409002),
  EntityAlreadyExists: row(409, GrpcStatus.ALREADY_EXISTS, notAuthorized, 'com.microsoft:entity-already-exists', 409000),
  PreconditionFailed: row(412, GrpcStatus.FAILED_PRECONDITION, notAuthorized, 'amqp:precondition-failed', 412002),
  DeviceMessageLockLost: row(412, GrpcStatus.FAILED_PRECONDITION, notAuthorized, 'com.microsoft:message-lock-lost', 412001),
  MessageTooLarge: row(413, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:link:message-size-exceeded', 413001),
  RequestEntityTooLarge: row(413, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:link:message-size-exceeded', 413002),
  UnsupportedMediaType: row(415, GrpcStatus.INVALID_ARGUMENT, notAuthorized, 'amqp:decode-error', 415000),
  // 429
  ThrottlingException: row(429, GrpcStatus.RESOURCE_EXHAUSTED, serverUnavailable, 'com.microsoft:device-container-throttled', 429001),
  // 5xx
  ServerError: row(500, GrpcStatus.INTERNAL, serverUnavailable, 'amqp:internal-error', 500001),
  BadDeviceResponse: row(502, GrpcStatus.UNKNOWN, serverUnavailable, 'amqp:internal-error', 502001),
  ServiceUnavailable: row(503, GrpcStatus.UNAVAILABLE, serverUnavailable, 'com.microsoft:timeout', 503001),
  GatewayTimeout: row(504, GrpcStatus.DEADLINE_EXCEEDED, serverUnavailable, 'com.microsoft:timeout', 504101),
} as const satisfies Record<string, ErrorCodeSpec>;

/** An IoT Hub error code name. */
export type ErrorCode = keyof typeof errorCodes;

/** True when `name` is one of the codes in the table. */
export function isErrorCode(name: string): name is ErrorCode {
  return Object.prototype.hasOwnProperty.call(errorCodes, name);
}
