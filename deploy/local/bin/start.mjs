// `npm start`: install, build, then start every service in one process (deploy/local).
import { ensurePnpm, installAndBuild, runForwardingSignals, step } from './bootstrap.mjs';

const env = ensurePnpm();
installAndBuild(env);
step('starting Open IoT Hub (Ctrl+C stops it)');
process.exitCode = await runForwardingSignals(process.execPath, ['deploy/local/dist/main.js'], env);
