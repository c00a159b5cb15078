export { testUrls, uniqueName } from './env.js';
export { tcpReachable, freePort, hostPort } from './probe.js';
export { testContext } from './context.js';
export { startAzurite, AZURITE_ACCOUNT, AZURITE_KEY } from './azurite.js';
export type { Azurite } from './azurite.js';
export { startServiceProcess } from './service-process.js';
export type { ServiceProcess } from './service-process.js';
