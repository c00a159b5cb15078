export { runCli, buildProgram } from './program.js';
export type { Io } from './program.js';
export { HubRestClient, HubRequestError } from './rest-client.js';
export { resolveTarget } from './target.js';
