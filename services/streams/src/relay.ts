import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Redis } from 'ioredis';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '@openiothub/logging';
import { verifyStreamToken, type StreamClaims } from './tokens.js';

interface Waiting {
  readonly claims: StreamClaims;
  readonly side: StreamClaims['side'];
  readonly ws: WebSocket;
  readonly timer: NodeJS.Timeout;
}

/** WebSocket close codes the relay uses (application range). */
export const CLOSE = { peerClosed: 1000, unauthorized: 4401, notFound: 4404, handshakeTimeout: 4408, conflict: 4409 } as const;

export interface RelayOptions {
  readonly cert: string;
  readonly key: string;
  readonly host: string;
  readonly port: number;
  readonly secret: string;
  /** PEM of the CA that signed the other relay processes' certificates (default: the system's). */
  readonly ca?: string | undefined;
  readonly redis: Redis;
  readonly handshakeMs: number;
  readonly log: Logger;
  /** This process's address for other relay processes (set once listening when the port was 0). */
  internalUrl: string;
  /** A stream ended (both sides gone) or never paired. */
  readonly onEnded: (claims: StreamClaims) => void;
  readonly onPaired: (claims: StreamClaims) => void;
}

/**
 * The streaming endpoint (seeds-protocols-ops §2): `wss://…/bridges/{hub}/{device}/{streamId}` with
 * `Authorization: Bearer <token>`; each token is good for one connection. The two sides of a stream
 * meet in the process the first one reached (recorded in Redis): a side that lands on another
 * process is carried there over a relay-to-relay WebSocket. Bytes are piped as they come, paused
 * while the far side's socket is full (WebSocket back-pressure end to end); either side closing
 * closes the other. A side that waits longer than the handshake limit is closed with 4408.
 */
export class Relay {
  readonly #o: RelayOptions;
  readonly #waiting = new Map<string, Waiting>();
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  readonly #server: Server;

  constructor(o: RelayOptions) {
    this.#o = o;
    this.#server = createServer({ cert: o.cert, key: o.key }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.#upgrade(req, socket, head).catch((err: unknown) => {
        this.#o.log.warn({ category: 'DeviceStreams', err }, 'stream upgrade failed');
        socket.destroy();
      });
    });
  }

  /** Where other relay processes reach this one (known once listening when the port was 0). */
  set internalUrl(url: string) {
    this.#o.internalUrl = url;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.port, this.#o.host, () => resolve((this.#server.address() as { port: number }).port));
    });
  }

  async close(): Promise<void> {
    for (const w of this.#waiting.values()) w.ws.terminate();
    for (const c of this.#wss.clients) c.terminate();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #refuse(socket: Duplex, status: number, text: string): void {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'wss://relay');
    const internal = /^\/internal\/([0-9a-f]{32})$/.exec(url.pathname);
    if (internal) {
      // another relay process brings the second side of a stream waiting here
      const sid = internal[1]!;
      const side = url.searchParams.get('side');
      if (!validInternal(this.#o.secret, sid, String(req.headers['x-relay-auth'] ?? '')) || (side !== 'device' && side !== 'service')) return this.#refuse(socket, 401, 'Unauthorized');
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        ws.pause();
        const w = this.#waiting.get(sid);
        if (!w || w.side === side) return shut(ws, CLOSE.notFound, 'no peer waiting');
        this.#pair(sid, w, ws);
      });
      return;
    }
    const m = /^\/bridges\/([^/]+)\/([^/]+)\/([0-9a-f]{32})$/.exec(url.pathname);
    if (!m) return this.#refuse(socket, 404, 'Not Found');
    const bearer = /^Bearer (.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1] ?? url.searchParams.get('auth') ?? '';
    const claims = verifyStreamToken(this.#o.secret, bearer);
    const [hub, device, sid] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), m[3]!];
    if (!claims || claims.iothub !== hub || claims.dev !== device || claims.sid !== sid) return this.#refuse(socket, 401, 'Unauthorized');
    // single use: a token opens one connection
    if ((await this.#o.redis.set(`streams:jti:${claims.jti}`, '1', 'EX', 3600, 'NX')) !== 'OK') return this.#refuse(socket, 401, 'Unauthorized');
    this.#wss.handleUpgrade(req, socket, head, (ws) => void this.#arrive(claims, ws));
  }

  async #arrive(claims: StreamClaims, ws: WebSocket): Promise<void> {
    // read nothing until the other side is attached: bytes sent early wait in TCP, not in the air
    ws.pause();
    const sid = claims.sid;
    const local = this.#waiting.get(sid);
    if (local) {
      if (local.side === claims.side) return shut(ws, CLOSE.conflict, 'this side is already connected');
      return this.#pair(sid, local, ws, claims);
    }
    const owner = `streams:at:${sid}`;
    if ((await this.#o.redis.set(owner, this.#o.internalUrl, 'PX', this.#o.handshakeMs, 'NX')) === 'OK') {
      const timer = setTimeout(() => {
        this.#waiting.delete(sid);
        shut(ws, CLOSE.handshakeTimeout, 'the other side did not connect in time');
        this.#o.onEnded(claims);
      }, this.#o.handshakeMs);
      this.#waiting.set(sid, { claims, side: claims.side, ws, timer });
      ws.once('close', () => {
        const w = this.#waiting.get(sid);
        if (w?.ws !== ws) return;
        clearTimeout(w.timer);
        this.#waiting.delete(sid);
        this.#o.onEnded(claims);
      });
      return;
    }
    // the other side waits in another relay process: carry this one there
    const at = await this.#o.redis.get(owner);
    if (at === this.#o.internalUrl) {
      // both sides arrived here at once: the other one registered while this one asked Redis
      const here = this.#waiting.get(sid);
      if (here && here.side !== claims.side) return this.#pair(sid, here, ws, claims);
      return shut(ws, here ? CLOSE.conflict : CLOSE.notFound, here ? 'this side is already connected' : 'the stream is gone');
    }
    if (!at) return shut(ws, CLOSE.notFound, 'the stream is gone');
    const link = new WebSocket(`${at}/internal/${sid}?side=${claims.side}`, { headers: { 'x-relay-auth': internalAuth(this.#o.secret, sid) }, ...(this.#o.ca ? { ca: this.#o.ca } : {}) });
    link.once('open', () => splice(ws, link));
    link.once('error', (err) => {
      this.#o.log.warn({ category: 'DeviceStreams', err, at }, 'relay-to-relay link failed');
      shut(ws, CLOSE.notFound, 'the relay holding the stream is unreachable');
    });
    ws.once('close', () => link.terminate());
  }

  #pair(sid: string, waiting: Waiting, ws: WebSocket, claims?: StreamClaims): void {
    clearTimeout(waiting.timer);
    this.#waiting.delete(sid);
    void this.#o.redis.del(`streams:at:${sid}`);
    this.#o.onPaired(waiting.claims);
    // the stream counts until its sides are gone
    waiting.ws.once('close', () => this.#o.onEnded(claims ?? waiting.claims));
    splice(waiting.ws, ws);
  }
}

/** Close a socket that may be paused (a paused socket would never read the peer's close answer). */
function shut(ws: WebSocket, code: number, reason: string): void {
  ws.resume();
  ws.close(code, reason);
}

/** Pipe two WebSockets both ways with back-pressure; either closing closes the other. */
function splice(a: WebSocket, b: WebSocket): void {
  const forward = (from: WebSocket, to: WebSocket) => {
    from.on('message', (data: Buffer, isBinary: boolean) => {
      if (to.readyState !== WebSocket.OPEN) return;
      to.send(data, { binary: isBinary });
      // the far socket is full: stop reading this one until it drains (TCP pushes back on the sender)
      if (to.bufferedAmount > 1024 * 1024) {
        from.pause();
        const resume = (): unknown => (to.bufferedAmount > 256 * 1024 ? setTimeout(resume, 5) : from.resume());
        setTimeout(resume, 5);
      }
    });
    from.once('close', () => to.close(CLOSE.peerClosed, 'the other side closed'));
    from.once('error', () => to.terminate());
  };
  forward(a, b);
  forward(b, a);
  a.resume();
  b.resume();
}

const internalAuth = (secret: string, sid: string) => createHmac('sha256', secret).update(`relay:${sid}`).digest('base64url');

function validInternal(secret: string, sid: string, got: string): boolean {
  const want = Buffer.from(internalAuth(secret, sid));
  const g = Buffer.from(got);
  return g.length === want.length && timingSafeEqual(g, want);
}
