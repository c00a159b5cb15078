import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Command } from 'commander';
import { openStream, splice, tunnelStreamName } from '@openiothub/stream-client';
import type { HubRestClient } from './rest-client.js';

/**
 * `iothub stream proxy --device D --local-port 2222 --remote-port 22` (scenario 34): every TCP
 * connection to the local port opens a new device stream named `port-{remote}` and is piped
 * through it; the device side (stream-client `serveTcpTunnels`) connects it to its own port.
 */
export function addStreamCommands(program: Command, rest: () => HubRestClient, caPath: () => string | undefined, io: { err(text: string): void; signal?: AbortSignal | undefined }): void {
  const stream = program.command('stream').description('device streams');
  stream
    .command('proxy')
    .requiredOption('-d, --device <id>')
    .requiredOption('--local-port <port>', 'local TCP port to listen on')
    .requiredOption('--remote-port <port>', "the device's local port to reach")
    .option('--local-host <host>', 'address to listen on', '127.0.0.1')
    .action(async (o) => {
      const client = rest();
      const ca = caPath() ? readFileSync(caPath()!) : undefined;
      const server = createServer((socket) => {
        socket.pause();
        void (async () => {
          const r = (await client.send('POST', `/twins/${encodeURIComponent(o.device)}/streams/${tunnelStreamName(Number(o.remotePort))}`, {})) as { isAccepted: boolean; uri: string; authorizationToken: string };
          if (!r.isAccepted) throw new Error(`device ${o.device} refused a tunnel to port ${o.remotePort}`);
          const s = await openStream(r.uri, r.authorizationToken, ca ? { ca } : {});
          splice(socket, s);
          socket.resume();
        })().catch((err: unknown) => {
          io.err(`stream failed: ${(err as Error).message}\n`);
          socket.destroy();
        });
      });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(Number(o.localPort), o.localHost, () => resolve()));
      io.err(`listening on ${o.localHost}:${(server.address() as { port: number }).port}, tunnelling to port ${o.remotePort} of ${o.device}. Ctrl+C stops.\n`);
      await new Promise<void>((resolve) => {
        if (io.signal?.aborted) return resolve();
        io.signal?.addEventListener('abort', () => resolve());
      });
      server.close();
    });
}
