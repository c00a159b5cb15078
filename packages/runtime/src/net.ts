import { readFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';

/** Resolve true when a TCP connection to host:port opens within `timeoutMs`. */
export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, host, () => done(true));
  });
}

/** Ports this process handed out already: two children of one test must never be given the same. */
const handedOut = new Set<number>();

/** Where the kernel's range for outgoing connections' local ports starts (Linux); a listener must stay below it. */
function ephemeralLow(): number {
  try {
    const lo = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (lo) return lo;
  } catch {
    // not Linux: the IANA dynamic range
  }
  return 49152;
}

async function listenable(port: number): Promise<number | undefined> {
  const srv = createServer();
  const bound = await new Promise<boolean>((r) => {
    srv.once('error', () => r(false));
    srv.listen(port, '127.0.0.1', () => r(true));
  });
  if (!bound) return undefined;
  const { port: actual } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return actual;
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago (for children that cannot take port 0).
 * It is picked below the kernel's ephemeral range, so no outgoing connection of the many processes
 * a test starts can take it before the child binds it (port 0 would hand out one from that range),
 * and never twice in one process.
 */
export async function freePort(): Promise<number> {
  const lo = ephemeralLow();
  const base = 10_000;
  if (lo - base >= 1_000) {
    for (let tries = 0; tries < 100; tries += 1) {
      const candidate = base + Math.floor(Math.random() * (lo - base));
      if (handedOut.has(candidate)) continue;
      handedOut.add(candidate); // before the await: concurrent callers must not try it too
      if ((await listenable(candidate)) !== undefined) return candidate;
      handedOut.delete(candidate);
    }
  }
  for (;;) {
    const port = (await listenable(0))!;
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}
