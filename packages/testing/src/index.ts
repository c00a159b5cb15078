export { testUrls, uniqueName } from './env.js';
export { tcpReachable, hostPort } from './probe.js';
export { testContext } from './context.js';
