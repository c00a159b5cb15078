import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The helm binary: $HELM, then PATH, then Go's install folder ($GOBIN, $GOPATH/bin, ~/go/bin); undefined when none. */
export function findHelm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [
    env['HELM'],
    ...(env['PATH'] ?? '').split(delimiter).map((dir) => join(dir, 'helm')),
    env['GOBIN'] && join(env['GOBIN'], 'helm'),
    env['GOPATH'] && join(env['GOPATH'], 'bin', 'helm'),
    join(homedir(), 'go', 'bin', 'helm'),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}
