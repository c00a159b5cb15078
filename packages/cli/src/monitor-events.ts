import { connectNats, followD2C, type ReadD2CMessage } from '@openiothub/bus';

/** Options of `iothub monitor-events`. */
export interface MonitorOptions {
  readonly natsUrl: string;
  readonly hub: string;
  readonly deviceId?: string | undefined;
  readonly moduleId?: string | undefined;
  /** `all` adds system and application properties (as `az iot hub monitor-events --properties all`). */
  readonly properties: 'none' | 'all';
  /** Stop after this many events (0 = never). */
  readonly max: number;
  /** Stop after this many seconds (0 = never). */
  readonly timeoutSeconds: number;
  readonly signal?: AbortSignal;
}

function payloadOf(m: ReadD2CMessage): unknown {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(m.body);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The event as `az iot hub monitor-events` prints it. */
export function formatEvent(m: ReadD2CMessage, properties: 'none' | 'all'): Record<string, unknown> {
  const sys = m.systemProperties;
  const event: Record<string, unknown> = {
    origin: sys['iothub-connection-device-id'],
    module: sys['iothub-connection-module-id'] ?? '',
    interface: sys['dt-dataschema'] ?? '',
    component: sys['dt-subject'] ?? '',
    payload: payloadOf(m),
  };
  if (properties === 'all') event['properties'] = { system: sys, application: m.applicationProperties };
  return { event };
}

/** Print live telemetry as JSON, one event per line of output. Resolves how many were printed. */
export async function monitorEvents(opts: MonitorOptions, print: (event: Record<string, unknown>) => void): Promise<number> {
  const nc = await connectNats(opts.natsUrl, 'iothub-cli-monitor');
  const ac = new AbortController();
  const timer = opts.timeoutSeconds > 0 ? setTimeout(() => ac.abort(), opts.timeoutSeconds * 1000) : undefined;
  opts.signal?.addEventListener('abort', () => ac.abort(), { once: true });
  let count = 0;
  try {
    await followD2C(
      nc,
      opts.hub,
      (m) => {
        const sys = m.systemProperties;
        if (opts.deviceId && sys['iothub-connection-device-id'] !== opts.deviceId) return;
        if (opts.moduleId && sys['iothub-connection-module-id'] !== opts.moduleId) return;
        print(formatEvent(m, opts.properties));
        count += 1;
        if (opts.max > 0 && count >= opts.max) ac.abort();
      },
      ac.signal,
    );
  } finally {
    clearTimeout(timer);
    await nc.close();
  }
  return count;
}
