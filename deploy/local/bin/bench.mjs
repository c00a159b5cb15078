// `npm run bench:<name>`: install, build, then run test/load/dist/<name>.js (never part of npm test).
import { ensurePnpm, installAndBuild, run, step } from './bootstrap.mjs';

const name = process.argv[2];
const env = ensurePnpm();
installAndBuild(env);
step(`benchmark ${name}`);
run(process.execPath, [`test/load/dist/${name}.js`], env);
