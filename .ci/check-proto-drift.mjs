// Regenerate packages/proto/src/gen from proto/ and fail when the committed code differs.
import { spawnSync } from 'node:child_process';
import { root, run } from '../deploy/local/bin/bootstrap.mjs';

run('pnpm', ['--filter', '@openiothub/proto', 'run', '--silent', 'generate']);
const diff = spawnSync('git', ['status', '--porcelain', '--', 'packages/proto/src/gen'], { cwd: root, encoding: 'utf8' });
if (diff.status !== 0) {
  process.stdout.write('proto drift: not a git checkout, regeneration ran but drift cannot be checked\n');
} else if (diff.stdout.trim() !== '') {
  process.stderr.write(`Generated protobuf code differs from proto/ — run "pnpm run generate" and commit:\n${diff.stdout}`);
  process.exit(1);
} else {
  process.stdout.write('proto drift: generated code matches proto/\n');
}
