-- Identity registry. Every row is keyed by hub (the tenant).
CREATE TABLE registry.hubs (
  name         text PRIMARY KEY,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- maintained in the same transaction as device inserts/deletes: quota check and statistics
  device_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE registry.policies (
  hub           text NOT NULL REFERENCES registry.hubs (name) ON DELETE CASCADE,
  key_name      text NOT NULL,
  primary_key   text NOT NULL,
  secondary_key text NOT NULL,
  rights        text[] NOT NULL,
  PRIMARY KEY (hub, key_name)
);

-- Every identity write takes a new value: etags never repeat, even across delete and re-create.
CREATE SEQUENCE registry.etag_seq;

CREATE TABLE registry.devices (
  hub                           text NOT NULL REFERENCES registry.hubs (name) ON DELETE CASCADE,
  device_id                     text NOT NULL,
  generation_id                 text NOT NULL,
  version                       bigint NOT NULL,
  status                        text NOT NULL CHECK (status IN ('enabled', 'disabled')),
  status_reason                 text NOT NULL DEFAULT '',
  status_updated_time           timestamptz NOT NULL DEFAULT now(),
  auth_type                     text NOT NULL,
  primary_key                   text NOT NULL DEFAULT '',
  secondary_key                 text NOT NULL DEFAULT '',
  primary_thumbprint            text NOT NULL DEFAULT '',
  secondary_thumbprint          text NOT NULL DEFAULT '',
  iot_edge                      boolean NOT NULL DEFAULT false,
  device_scope                  text NOT NULL DEFAULT '',
  parent_scopes                 text[] NOT NULL DEFAULT '{}',
  connection_state              text NOT NULL DEFAULT 'Disconnected',
  connection_state_updated_time timestamptz,
  last_activity_time            timestamptz,
  c2d_message_count             integer NOT NULL DEFAULT 0,
  created_at                    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (hub, device_id)
);

CREATE TABLE registry.modules (
  hub                           text NOT NULL,
  device_id                     text NOT NULL,
  module_id                     text NOT NULL,
  generation_id                 text NOT NULL,
  version                       bigint NOT NULL,
  auth_type                     text NOT NULL,
  primary_key                   text NOT NULL DEFAULT '',
  secondary_key                 text NOT NULL DEFAULT '',
  primary_thumbprint            text NOT NULL DEFAULT '',
  secondary_thumbprint          text NOT NULL DEFAULT '',
  managed_by                    text NOT NULL DEFAULT '',
  connection_state              text NOT NULL DEFAULT 'Disconnected',
  connection_state_updated_time timestamptz,
  last_activity_time            timestamptz,
  c2d_message_count             integer NOT NULL DEFAULT 0,
  PRIMARY KEY (hub, device_id, module_id),
  FOREIGN KEY (hub, device_id) REFERENCES registry.devices (hub, device_id) ON DELETE CASCADE
);

-- Transactional outbox: events are written with the change they describe and relayed to
-- JetStream afterwards (de-duplicated by event_id), so a committed change never loses its event.
CREATE TABLE registry.outbox (
  id         bigserial PRIMARY KEY,
  event_id   uuid NOT NULL,
  subject    text NOT NULL,
  headers    jsonb NOT NULL,
  body       bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
