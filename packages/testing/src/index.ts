export { testUrls, uniqueName } from './env.js';
export { tcpReachable, freePort, hostPort } from './probe.js';
export { testContext } from './context.js';
