import type { Logger } from '@openiothub/logging';
import type { Counter, Gauge } from 'prom-client';
import type { DeviceAuthenticator } from '../auth/device-auth.js';
import type { HubResolver } from '../auth/hub-resolver.js';
import type { IpFilterGuard } from '../auth/ip-filter-cache.js';
import type { Throttle } from '../throttle/throttle.js';
import type { HubMetrics } from '@openiothub/runtime';
import type { Presence } from '../session/presence.js';
import type { SessionStore } from '../session/session-store.js';
import type { D2CIngest } from '../telemetry/d2c-ingest.js';
import type { ConnectionReporter } from '../upstream/connection-reporter.js';
import type { MessagingClient } from '../upstream/messaging-client.js';
import type { TwinClient } from '../upstream/twin-client.js';
import type { HubInfo } from '@openiothub/bus';
import type { ProvisioningClient } from '../dps/mqtt-session.js';

/** Everything an MQTT connection needs from the gateway. */
export interface MqttDeps {
  readonly log: Logger;
  readonly hubs: HubResolver;
  readonly ipFilter: IpFilterGuard;
  readonly throttle: Throttle;
  /** Azure Monitor's metrics by hub (twin operations from devices). */
  readonly hubMetrics?: HubMetrics;
  readonly auth: DeviceAuthenticator;
  readonly presence: Presence;
  readonly sessions: SessionStore;
  readonly ingest: D2CIngest;
  readonly reporter: ConnectionReporter;
  readonly twin: TwinClient;
  readonly messaging: MessagingClient;
  readonly hubInfo: HubInfo;
  /** The Device Provisioning Service, for DPS clients on this port; absent when none is deployed. */
  readonly provisioning: ProvisioningClient | undefined;
  /** IoT Hub caps keep-alive at 1177 s; 0 from a client means "use the cap". */
  readonly maxKeepAliveSeconds: number;
  /** How long a new connection may take to send CONNECT and authenticate. */
  readonly authDeadlineMs: number;
  /** QoS 1 telemetry a connection may have waiting for JetStream before reading pauses. */
  readonly maxInFlight: number;
  readonly metrics: {
    readonly connections: Gauge;
    readonly d2cMessages: Counter;
    readonly rejectedConnects: Counter;
  };
}
