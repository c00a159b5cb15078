import type { Server, TLSSocket } from 'node:tls';
import { listenTls } from '../tls-listener.js';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws';
import { peerChain } from '@openiothub/auth';
import { MqttConnection, type ConnectionInfo } from './connection.js';
import type { MqttDeps } from './deps.js';
import type { ConnectionGuard } from '../guard/connection-guard.js';

/** Live MQTT connections of this process, for shutdown. */
export class MqttConnections {
  readonly #all = new Set<MqttConnection>();

  accept(stream: Duplex, deps: MqttDeps, info: ConnectionInfo): void {
    const conn = new MqttConnection(stream, deps, info);
    this.#all.add(conn);
    stream.once('close', () => this.#all.delete(conn));
  }

  /** Close every connection (devices reconnect elsewhere); their wills are not sent. */
  closeAll(): void {
    for (const c of this.#all) c.close('server-shutdown');
    this.#all.clear();
  }
}

/** MQTT over TLS (8883). */
export function listenMqtts(opts: { host: string; port: number; cert: string; key: string; deps: MqttDeps; connections: MqttConnections; guard?: ConnectionGuard }): Promise<{ server: Server; port: number }> {
  return listenTls({
    ...opts,
    protocol: 'MQTT',
    portSetting: 'MQTT_PORT',
    onSocket: (socket: TLSSocket) => {
      socket.setNoDelay(true);
      opts.connections.accept(socket, opts.deps, { transport: 'mqtt', remoteAddress: socket.remoteAddress, peerChain: () => peerChain(socket) });
    },
  });
}

/**
 * WebSocket upgrades on the HTTPS port. The SDKs dial `/$iothub/websocket`; a HostName with a
 * port yields `/:18443/$iothub/websocket`, so any path ending that way is accepted (sdk-compat §4.7).
 * Subprotocol `mqtt` is MQTT, `AMQPWSB10` is AMQP (handed to `amqp`).
 */
export function createUpgradeHandler(opts: { deps: MqttDeps; connections: MqttConnections; amqp?: (ws: WebSocket) => void }) {
  const refuse = (socket: Duplex) => socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 512 * 1024,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : opts.amqp && protocols.has('AMQPWSB10') ? 'AMQPWSB10' : false),
  });
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    const amqp = opts.amqp && protocols.includes('AMQPWSB10') && !protocols.includes('mqtt');
    if (!path.endsWith('/$iothub/websocket') || (!protocols.includes('mqtt') && !amqp)) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // the IP filter of the hub the Host header names applies before the WebSocket exists
    let hub: string | undefined;
    try {
      hub = opts.deps.hubs.resolve(req.headers.host);
    } catch {
      hub = undefined; // a DPS client, or an unknown host: the protocol inside decides
    }
    const upgrade = () =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (amqp) {
          opts.amqp!(ws);
          return;
        }
        const stream = createWebSocketStream(ws);
        stream.on('error', () => undefined);
        opts.connections.accept(stream, opts.deps, { transport: 'mqtt-ws', remoteAddress: req.socket.remoteAddress, peerChain: () => peerChain(req.socket as TLSSocket) });
      });
    if (!hub) return upgrade();
    opts.deps.ipFilter.check(hub, req.socket.remoteAddress).then(upgrade, () => refuse(socket));
  };
}
