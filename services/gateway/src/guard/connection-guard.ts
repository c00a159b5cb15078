import type { Socket } from 'node:net';

export type RefusalReason = 'connections-per-ip' | 'connection-rate-per-ip' | 'connections';

/**
 * Connection-flood protection for every listener of a gateway process (MQTT 8883, AMQP 5671,
 * HTTPS/WebSockets 443), applied to the raw TCP socket before any TLS handshake is spent on it:
 * at most `maxPerIp` open connections from one source address, at most `ratePerIp` new ones a
 * second from it (a bucket holding `burstPerIp`), and at most `maxTotal` in the process. A
 * refused socket is destroyed at once. The limits are generous by default: many devices share
 * one address behind a NAT, and a hub's own new-connection throttle is the per-hub limit; these
 * keep one address from exhausting a process.
 *
 * Slow clients are bounded elsewhere, each by its protocol: the TLS handshake (10 s), MQTT's
 * CONNECT (30 s), AMQP's first token (30 s), HTTP headers (30 s) and whole requests (120 s).
 */
export class ConnectionGuard {
  readonly #maxPerIp: number;
  readonly #ratePerIp: number;
  readonly #burstPerIp: number;
  readonly #maxTotal: number;
  readonly #now: () => number;
  readonly #onRefused: (reason: RefusalReason, address: string) => void;
  readonly #open = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #total = 0;

  constructor(opts: { maxPerIp: number; ratePerIp: number; burstPerIp?: number; maxTotal: number; now?: () => number; onRefused?: (reason: RefusalReason, address: string) => void }) {
    this.#maxPerIp = opts.maxPerIp;
    this.#ratePerIp = opts.ratePerIp;
    this.#burstPerIp = opts.burstPerIp ?? opts.ratePerIp * 2;
    this.#maxTotal = opts.maxTotal;
    this.#now = opts.now ?? Date.now;
    this.#onRefused = opts.onRefused ?? (() => undefined);
  }

  /** Connections open now (from one address, or in all). */
  open(address?: string): number {
    return address === undefined ? this.#total : (this.#open.get(address) ?? 0);
  }

  /** Admit a new socket or destroy it; an admitted socket is counted until it closes. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? '';
    const reason = this.#check(address);
    if (reason) {
      this.#onRefused(reason, address);
      socket.destroy();
      return false;
    }
    this.#total += 1;
    this.#open.set(address, (this.#open.get(address) ?? 0) + 1);
    socket.once('close', () => {
      this.#total -= 1;
      const n = (this.#open.get(address) ?? 1) - 1;
      if (n > 0) this.#open.set(address, n);
      else this.#open.delete(address);
    });
    return true;
  }

  /** Watch a listener's raw connections (the `connection` event fires before TLS; this listener runs first). */
  watch(server: { prependListener(event: 'connection', fn: (socket: Socket) => void): unknown }): void {
    server.prependListener('connection', (socket) => void this.admit(socket));
  }

  #check(address: string): RefusalReason | undefined {
    if (this.#total >= this.#maxTotal) return 'connections';
    if ((this.#open.get(address) ?? 0) >= this.#maxPerIp) return 'connections-per-ip';
    const now = this.#now();
    const b = this.#buckets.get(address) ?? { tokens: this.#burstPerIp, at: now };
    b.tokens = Math.min(this.#burstPerIp, b.tokens + ((now - b.at) / 1000) * this.#ratePerIp);
    b.at = now;
    if (b.tokens < 1) {
      this.#buckets.set(address, b);
      return 'connection-rate-per-ip';
    }
    b.tokens -= 1;
    this.#buckets.set(address, b);
    if (this.#buckets.size > 100_000) this.#sweep(now);
    return undefined;
  }

  /** Forget full buckets (addresses quiet long enough to have refilled). */
  #sweep(now: number): void {
    for (const [address, b] of this.#buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.#ratePerIp >= this.#burstPerIp) this.#buckets.delete(address);
    }
  }
}
