import type { NatsConnection } from '@nats-io/transport-node';
import type { MethodReply, MethodRequest } from './methods.js';
import { subjects } from './subjects.js';
import { ArgumentInvalidError, DomainError, domainErrorFromCode } from '@openiothub/errors';
import { RequestError, TimeoutError } from '@nats-io/transport-node';

/** IoT Hub: method timeouts 5–300 s (default 30), connect timeout 0–300 s, payloads ≤ 128 KB (devguide §13.1). */
export const METHOD_LIMITS = { minTimeout: 5, maxTimeout: 300, defaultTimeout: 30, maxPayloadBytes: 128 * 1024 } as const;

/** Direct-method names: printable US-ASCII without `$ ( ) < > @ , ; : \\ " ' / [ ] ? = { }`, space or tab (devguide §1.5). */
const METHOD_NAME = /^[!#%&*+\-.0-9A-Z^_`a-z|~]{1,128}$/;

/** A validated invocation. */
export interface Invocation extends MethodRequest {
  readonly connectTimeoutInSeconds: number;
}

/** Validate a REST invocation body (`timeoutInSeconds` is the old name of `responseTimeoutInSeconds`). */
export function parseInvocation(body: unknown): Invocation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ArgumentInvalidError('The method invocation must be a JSON object.');
  const o = body as Record<string, unknown>;
  const methodName = o['methodName'];
  if (typeof methodName !== 'string' || !METHOD_NAME.test(methodName)) {
    throw new ArgumentInvalidError('methodName is required: 1-128 printable ASCII characters, none of $()<>@,;:\\"\'/[]?={} or spaces.');
  }
  const seconds = (key: string, min: number, def: number) => {
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > METHOD_LIMITS.maxTimeout) {
      throw new ArgumentInvalidError(`${key} must be a whole number of seconds from ${min} to ${METHOD_LIMITS.maxTimeout}.`);
    }
    return v;
  };
  const responseTimeoutInSeconds = seconds('responseTimeoutInSeconds', METHOD_LIMITS.minTimeout, seconds('timeoutInSeconds', METHOD_LIMITS.minTimeout, METHOD_LIMITS.defaultTimeout));
  const connectTimeoutInSeconds = seconds('connectTimeoutInSeconds', 0, 0);
  const payload = o['payload'] === undefined ? null : o['payload'];
  if (Buffer.byteLength(JSON.stringify(payload)) > METHOD_LIMITS.maxPayloadBytes) {
    throw new DomainError('RequestEntityTooLarge', `The method payload is larger than ${METHOD_LIMITS.maxPayloadBytes} bytes.`);
  }
  return { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds };
}

/**
 * Reaches a device that this very process holds, without the bus (the gateway serving the REST call
 * often holds the device: the only one in a one-process hub). Undefined when it does not hold it;
 * else resolves the device's reply, or undefined when none came within `timeoutMs`.
 */
export type LocalDeviceRequester = (subject: string, request: string, timeoutMs: number) => Promise<MethodReply | undefined> | undefined;

const isNoResponders = (err: unknown) => err instanceof RequestError && err.isNoResponders();
const isTimeout = (err: unknown) => err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError);

/**
 * Invoke a direct method (REST `POST /twins/{id}/methods`, and the jobs service's method jobs) on whichever gateway process holds the identity. No holder: 404
 * DeviceNotOnline at once — or, with a connect timeout, ask again until it passes. No answer in
 * the response timeout: 504 GatewayTimeout.
 */
export async function invokeMethod(
  nc: NatsConnection,
  target: { hub: string; deviceId: string; moduleId?: string | undefined },
  inv: Invocation,
  local?: LocalDeviceRequester,
): Promise<{ status: number; payload: unknown }> {
  return askDevice(nc, subjects.method(subjects.identity(target.hub, target.deviceId, target.moduleId)), target, inv, 'direct methods', local);
}

/**
 * Ask the device for a stream (seeds-protocols-ops §2.2): the gateway holding it sends the relay URL
 * and the device's token; resolves the device's answer status (2xx accepts). Offline: 404
 * DeviceNotOnline at once; no answer in time: 504.
 */
export async function requestStream(
  nc: NatsConnection,
  target: { hub: string; deviceId: string },
  req: { streamName: string; url: string; auth: string; responseTimeoutInSeconds: number; connectTimeoutInSeconds: number },
  local?: LocalDeviceRequester,
): Promise<number> {
  const inv: Invocation = { methodName: req.streamName, payload: { url: req.url, auth: req.auth }, responseTimeoutInSeconds: req.responseTimeoutInSeconds, connectTimeoutInSeconds: req.connectTimeoutInSeconds };
  return (await askDevice(nc, subjects.streamRequest(subjects.identity(target.hub, target.deviceId)), target, inv, 'device streams', local)).status;
}

async function askDevice(
  nc: NatsConnection,
  subject: string,
  target: { hub: string; deviceId: string; moduleId?: string | undefined },
  inv: Invocation,
  what: string,
  local: LocalDeviceRequester | undefined,
): Promise<{ status: number; payload: unknown }> {
  const request = JSON.stringify({ methodName: inv.methodName, payload: inv.payload, responseTimeoutInSeconds: inv.responseTimeoutInSeconds } satisfies MethodRequest);
  const timeoutMs = inv.responseTimeoutInSeconds * 1000;
  const connectDeadline = Date.now() + inv.connectTimeoutInSeconds * 1000;
  const who = target.moduleId ? `Module ${target.moduleId} on device ${target.deviceId}` : `Device ${target.deviceId}`;
  const timedOut = () => new DomainError('GatewayTimeout', `${who} did not answer ${what === 'direct methods' ? 'method' : 'stream'} ${inv.methodName} within ${inv.responseTimeoutInSeconds} s.`);
  // within the connect timeout, "not online" and "connected but not subscribed yet" are both asked
  // again; a device that disconnected after it was asked is not (it may have run the method)
  const waitForDevice = async () => {
    if (Date.now() >= connectDeadline) return false;
    await new Promise((r) => setTimeout(r, Math.min(500, connectDeadline - Date.now())));
    return true;
  };
  for (;;) {
    const here = local?.(subject, request, timeoutMs);
    let reply: MethodReply;
    if (here) {
      const r = await here;
      if (!r) throw timedOut();
      reply = r;
    } else {
      try {
        reply = (await nc.request(subject, request, { timeout: timeoutMs })).json<MethodReply>();
      } catch (err) {
        if (isNoResponders(err)) {
          if (await waitForDevice()) continue;
          throw new DomainError('DeviceNotOnline', `${who} is not online or has not subscribed to ${what}.`);
        }
        if (isTimeout(err)) throw timedOut();
        throw err;
      }
    }
    if (!('error' in reply)) return { status: reply.status, payload: reply.payload };
    if (reply.notAsked && (await waitForDevice())) continue;
    throw domainErrorFromCode(reply.error, reply.message);
  }
}
