import { describe, expect, it } from 'vitest';
import { DomainError, errorCodes, toDomainError, toHttpError, domainErrorFromCode, GrpcStatus, type ErrorCode } from './index.js';

// The Azure service SDK maps status → error class (spec/sdk-compat.md §6); these statuses must hold.
const sdkVisible: Array<[ErrorCode, number]> = [
  ['ArgumentInvalid', 400],
  ['IotHubUnauthorizedAccess', 401],
  ['DeviceNotFound', 404],
  ['IotHubNotFound', 404],
  ['DeviceAlreadyExists', 409],
  ['PreconditionFailed', 412],
  ['ThrottlingException', 429],
  ['ServerError', 500],
  ['BadDeviceResponse', 502],
  ['ServiceUnavailable', 503],
  ['GatewayTimeout', 504],
];

describe('error table', () => {
  it.each(sdkVisible)('%s maps to HTTP %i', (code, status) => {
    expect(errorCodes[code].http).toBe(status);
  });

  it.each(Object.entries(errorCodes))('%s has a consistent row', (code, spec) => {
    expect(spec.http).toBeGreaterThanOrEqual(400);
    expect(spec.http).toBeLessThan(600);
    expect(Object.values(GrpcStatus)).toContain(spec.grpc);
    expect(spec.grpc).not.toBe(GrpcStatus.OK);
    expect(spec.connack).toBeGreaterThanOrEqual(1);
    expect(spec.connack).toBeLessThanOrEqual(5);
    expect(spec.amqp).toMatch(/^(amqp|com\.microsoft):/);
    // the six-digit code starts with the HTTP status, as IoT Hub's do
    expect(String(spec.numeric).slice(0, 3)).toBe(String(spec.http));
    // and the body the SDK parses carries the code name
    const res = toHttpError(new DomainError(code as ErrorCode, 'text'));
    expect(res.status).toBe(spec.http);
    expect(JSON.parse(res.body).Message).toBe(`ErrorCode:${code};text`);
  });
});

describe('toHttpError', () => {
  it('writes the IoT Hub body with a JSON content type', () => {
    const res = toHttpError(new DomainError('DeviceNotFound', 'Device dev1 not found.'), new Date('2026-01-02T03:04:05Z'));
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = JSON.parse(res.body);
    expect(body.Message).toBe('ErrorCode:DeviceNotFound;Device dev1 not found.');
    expect(body.ExceptionMessage).toMatch(/^Tracking ID:[0-9a-f]{32}-TimeStamp:2026-01-02T03:04:05.000Z$/);
  });
});

describe('toDomainError', () => {
  it('keeps DomainErrors and wraps anything else as ServerError with the cause', () => {
    const known = new DomainError('DeviceNotFound', 'x');
    expect(toDomainError(known)).toBe(known);
    const boom = new Error('boom');
    const wrapped = toDomainError(boom);
    expect(wrapped.code).toBe('ServerError');
    expect(wrapped.cause).toBe(boom);
    expect(wrapped.message).not.toContain('boom');
  });

  it('rebuilds from a code name and falls back to ServerError for unknown names', () => {
    expect(domainErrorFromCode('PreconditionFailed', 'etag').spec.http).toBe(412);
    expect(domainErrorFromCode('NoSuchCode', 'x').code).toBe('ServerError');
  });
});
