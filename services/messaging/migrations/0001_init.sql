-- Cloud-to-device queues (devguide §7). One queue per device (module_id = '') and per module
-- (module input messages). A row is a message that is Enqueued or Invisible (locked); completed
-- and dead-lettered messages are deleted, leaving a feedback record where the ack mode asks.
-- The per-queue delivery lock itself lives in Redis; lock_token/locked_until here say which
-- delivery may settle the message.
CREATE TABLE messaging.c2d (
  hub              text NOT NULL,
  device_id        text NOT NULL,
  module_id        text NOT NULL DEFAULT '',
  seq              bigserial,
  generation_id    text NOT NULL,
  input_name       text NOT NULL DEFAULT '',
  message_id       text NOT NULL,
  correlation_id   text NOT NULL DEFAULT '',
  user_id          text NOT NULL DEFAULT '',
  ack              text NOT NULL DEFAULT 'none',
  content_type     text NOT NULL DEFAULT '',
  content_encoding text NOT NULL DEFAULT '',
  properties       jsonb NOT NULL DEFAULT '{}',
  body             bytea NOT NULL,
  enqueued_at      timestamptz NOT NULL,
  expires_at       timestamptz NOT NULL,
  delivery_count   integer NOT NULL DEFAULT 0,
  lock_token       uuid,
  locked_until     timestamptz,
  PRIMARY KEY (hub, device_id, module_id, seq)
);
CREATE INDEX c2d_expiry ON messaging.c2d (expires_at);
CREATE UNIQUE INDEX c2d_lock ON messaging.c2d (lock_token) WHERE lock_token IS NOT NULL;

-- Outcomes waiting to be batched into feedback messages.
CREATE TABLE messaging.feedback_records (
  id         bigserial PRIMARY KEY,
  hub        text NOT NULL,
  record     jsonb NOT NULL
);

-- The hub's service-bound feedback queue.
CREATE TABLE messaging.feedback (
  hub            text NOT NULL,
  seq            bigserial,
  message_id     uuid NOT NULL,
  body           jsonb NOT NULL,
  enqueued_at    timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  delivery_count integer NOT NULL DEFAULT 0,
  lock_token     uuid,
  locked_until   timestamptz,
  PRIMARY KEY (hub, seq)
);
CREATE INDEX feedback_expiry ON messaging.feedback (expires_at);
CREATE UNIQUE INDEX feedback_lock ON messaging.feedback (lock_token) WHERE lock_token IS NOT NULL;

-- Hub-level C2D settings (devguide §7.5); a hub without a row uses the defaults.
CREATE TABLE messaging.settings (
  hub                         text PRIMARY KEY,
  default_ttl_ms              bigint NOT NULL,
  max_delivery_count          integer NOT NULL,
  feedback_ttl_ms             bigint NOT NULL,
  feedback_max_delivery_count integer NOT NULL,
  feedback_lock_ms            bigint NOT NULL
);
