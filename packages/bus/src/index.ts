export { subjects, streams, headers, subjectToken, fromSubjectToken } from './subjects.js';
export type { StreamName } from './subjects.js';
export { connectNats, ensureStreams } from './connect.js';
export type { NatsConnection } from './connect.js';
