import type { DeviceMessage } from '../session/presence.js';
import type { MethodReply, MethodRequest } from '@openiothub/bus';

function answer(msg: DeviceMessage, reply: MethodReply): void {
  msg.respond(JSON.stringify(reply));
}

/**
 * Direct-method requests a connection has sent to its device and not yet seen answered, by
 * request id, whatever the protocol (MQTT `$rid`, AMQP correlation id). Each answers the bus
 * request it came from ({@link MethodRequest} → {@link MethodReply}).
 */
export class PendingMethods {
  readonly #pending = new Map<string, { msg: DeviceMessage; timer: NodeJS.Timeout }>();

  /** The request in a bus message, or undefined after answering a malformed one. */
  static parse(msg: DeviceMessage): MethodRequest | undefined {
    try {
      return msg.json<MethodRequest>();
    } catch {
      answer(msg, { error: 'ArgumentInvalid', message: 'Malformed method request.' });
      return undefined;
    }
  }

  /** Answer a request the device cannot be asked (not subscribed, link missing). */
  static notOnline(msg: DeviceMessage, why: string): void {
    answer(msg, { error: 'DeviceNotOnline', message: why, notAsked: true });
  }

  /** Remember a request sent to the device; the requester stops waiting after its timeout, so forget it a little later. */
  add(rid: string, msg: DeviceMessage, req: MethodRequest): void {
    const timer = setTimeout(() => this.#pending.delete(rid), req.responseTimeoutInSeconds * 1000 + 5000);
    timer.unref();
    this.#pending.set(rid, { msg, timer });
  }

  /** The device answered `rid` with `status` and a JSON body (empty = null); unknown or late ids are ignored. */
  resolve(rid: string, status: number, body: Buffer): void {
    const p = this.#pending.get(rid);
    if (!p) return;
    this.#pending.delete(rid);
    clearTimeout(p.timer);
    let payload: unknown = null;
    if (body.length > 0) {
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        return answer(p.msg, { error: 'BadDeviceResponse', message: 'The device answered with a payload that is not JSON.' });
      }
    }
    answer(p.msg, { status, payload });
  }

  /** The connection or link went away: every caller still waiting learns the device left. */
  abandonAll(): void {
    for (const [rid, p] of this.#pending) {
      clearTimeout(p.timer);
      answer(p.msg, { error: 'DeviceNotOnline', message: 'The device disconnected before answering.' });
      this.#pending.delete(rid);
    }
  }
}
