export { subjects, streams, headers, subjectToken, fromSubjectToken, partitionOf } from './subjects.js';
export type { StreamName } from './subjects.js';
export { connectNats, ensureStreams } from './connect.js';
export type { NatsConnection } from './connect.js';
export { encodeD2C, decodeD2C } from './d2c-codec.js';
export type { D2CMessage } from './d2c-codec.js';
export { LeanJetStreamPublisher } from './lean-publisher.js';
export type { PubAck } from './lean-publisher.js';
