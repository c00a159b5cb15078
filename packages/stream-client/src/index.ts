import type { Duplex } from 'node:stream';
import { connect as netConnect } from 'node:net';
import { createWebSocketStream, WebSocket } from 'ws';

/** A stream request as the hub sends it to the device (seeds-protocols-ops §2.3). */
export interface StreamRequest {
  readonly name: string;
  readonly rid: string;
  /** The relay WebSocket URL of this stream. */
  readonly url: string;
  /** The device side's single-use bearer token. */
  readonly authorizationToken: string;
}

/** The part of an mqtt.js client this needs (so the package does not pin mqtt.js). */
export interface MqttLike {
  subscribe(topics: string[], opts: { qos: 0 | 1 }, cb?: (err: Error | null) => void): unknown;
  publish(topic: string, payload: string | Buffer, opts: { qos: 0 | 1 }): unknown;
  on(event: 'message', cb: (topic: string, payload: Buffer) => void): unknown;
}

/** Parse `$iothub/streams/POST/{name}/?$rid=…&$url=…&$auth=…`; undefined for other topics. */
export function parseStreamRequest(topic: string): StreamRequest | undefined {
  const m = /^\$iothub\/streams\/POST\/([^/]+)\/\?(.*)$/.exec(topic);
  if (!m) return undefined;
  const q = new Map(m[2]!.split('&').map((p) => [p.slice(0, p.indexOf('=') < 0 ? p.length : p.indexOf('=')), decodeURIComponent(p.slice(p.indexOf('=') + 1))] as const));
  const rid = q.get('$rid');
  const url = q.get('$url');
  const auth = q.get('$auth');
  return rid && url && auth ? { name: m[1]!, rid, url, authorizationToken: auth } : undefined;
}

/**
 * The device side: subscribe to stream requests and answer each with `accept(req)` — true sends
 * status 200 and then hands the request to `onAccepted` (which usually calls {@link openStream});
 * false answers 403 (the service sees `isAccepted: false`).
 */
export function serveStreams(mqtt: MqttLike, accept: (req: StreamRequest) => boolean | Promise<boolean>, onAccepted: (req: StreamRequest) => void): Promise<void> {
  mqtt.on('message', (topic) => {
    const req = parseStreamRequest(topic);
    if (!req) return;
    void Promise.resolve(accept(req)).then((ok) => {
      mqtt.publish(`$iothub/streams/res/${ok ? 200 : 403}/?$rid=${req.rid}`, '', { qos: 0 });
      if (ok) onAccepted(req);
    });
  });
  return new Promise((resolve, reject) => mqtt.subscribe(['$iothub/streams/POST/#', '$iothub/streams/res/#'], { qos: 0 }, (err) => (err ? reject(err) : resolve())));
}

/**
 * Open one side of a stream: the relay WebSocket with the side's bearer token, as a Node duplex
 * stream (back-pressure follows the WebSocket); when the other side closes, this one ends and
 * closes once its data is read. Rejects when the relay refuses the token.
 */
export function openStream(url: string, authorizationToken: string, opts: { ca?: string | Buffer } = {}): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${authorizationToken}` }, ...(opts.ca ? { ca: opts.ca } : {}) });
    ws.once('open', () => {
      const duplex = createWebSocketStream(ws);
      // the other side (or the relay) closed: finish this side too, so 'close' follows once read
      duplex.once('end', () => duplex.end());
      resolve(duplex);
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`The relay refused the stream: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

/** The stream name that asks a device for a TCP tunnel to one of its local ports (`port-22`). */
export const tunnelStreamName = (port: number) => `port-${port}`;

/**
 * The device side of TCP tunnels (scenario 34): accept stream requests named `port-{n}` for an
 * allowed port, connect to `host:n` and pipe the stream to it both ways; refuse the rest.
 */
export function serveTcpTunnels(mqtt: MqttLike, opts: { ports: readonly number[]; host?: string; ca?: string | Buffer; onError?: (err: Error) => void }): Promise<void> {
  const portOf = (req: StreamRequest) => Number(/^port-(\d{1,5})$/.exec(req.name)?.[1] ?? NaN);
  return serveStreams(
    mqtt,
    (req) => opts.ports.includes(portOf(req)),
    (req) => {
      void openStream(req.url, req.authorizationToken, opts.ca ? { ca: opts.ca } : {}).then(
        (stream) => {
          const socket = netConnect(portOf(req), opts.host ?? '127.0.0.1');
          splice(stream, socket);
        },
        (err: Error) => opts.onError?.(err),
      );
    },
  );
}

/** Pipe a stream and a socket both ways; either ending or failing ends the other. */
export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.once('close', end).once('error', end);
  b.once('close', end).once('error', end);
}
