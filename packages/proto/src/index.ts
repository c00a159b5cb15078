export * as registryV1 from './gen/openiothub/registry/v1/registry.js';
export * as twinV1 from './gen/openiothub/twin/v1/twin.js';
export * as jobsV1 from './gen/openiothub/jobs/v1/jobs.js';
export * as messagingV1 from './gen/openiothub/messaging/v1/messaging.js';
export * as streamsV1 from './gen/openiothub/streams/v1/streams.js';
export * as routingV1 from './gen/openiothub/routing/v1/routing.js';
export { toGrpcError, fromGrpcError, unaryHandler, callUnary, promiseClient, connectClient, serveGrpc, ERROR_CODE_METADATA, grpc } from './grpc.js';
export type { PromiseClient } from './grpc.js';
export { deviceFromJson, deviceToJson, moduleFromJson, moduleToJson } from './identity-json.js';
