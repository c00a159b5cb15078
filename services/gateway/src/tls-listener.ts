import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { ConnectionGuard } from './guard/connection-guard.js';

/**
 * A TLS listener for a device protocol (MQTT 8883, AMQP 5671). A handshake that fails is dropped
 * without a log line per attempt; a port in use gets a message naming the setting to change.
 */
export async function listenTls(opts: {
  host: string;
  port: number;
  cert: string;
  key: string;
  /** For the error message: `MQTT port 8883 is already in use … set MQTT_PORT`. */
  protocol: string;
  portSetting: string;
  onSocket: (socket: TLSSocket) => void;
  guard?: ConnectionGuard | undefined;
}): Promise<{ server: Server; port: number }> {
  // a client certificate is asked for, never required: X.509 devices send one, SAS clients none
  const server = createServer({ cert: opts.cert, key: opts.key, handshakeTimeout: 10_000, requestCert: true, rejectUnauthorized: false }, opts.onSocket);
  server.on('tlsClientError', () => undefined);
  opts.guard?.watch(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`${opts.protocol} port ${opts.port} is already in use (is another hub running?). Stop it or set ${opts.portSetting}.`) : err),
    );
    server.listen(opts.port, opts.host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
