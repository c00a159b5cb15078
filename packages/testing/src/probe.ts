export { tcpReachable, freePort } from '@openiothub/runtime';

/** host and port of a URL, with the scheme's default port. */
export function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url.split(',')[0] ?? url);
  return { host: u.hostname, port: u.port ? Number(u.port) : defaultPort };
}
