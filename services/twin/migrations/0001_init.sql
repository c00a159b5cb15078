-- One twin per device (module_id = '') and per module. A twin belongs to one generation of its
-- identity: a re-created device (new generationId) starts from a fresh twin.
CREATE TABLE twin.twins (
  hub              text NOT NULL,
  device_id        text NOT NULL,
  module_id        text NOT NULL DEFAULT '',
  generation_id    text NOT NULL,
  model_id         text NOT NULL DEFAULT '',
  tags             jsonb NOT NULL,
  desired          jsonb NOT NULL,
  desired_meta     jsonb NOT NULL,
  desired_version  bigint NOT NULL,
  reported         jsonb NOT NULL,
  reported_meta    jsonb NOT NULL,
  reported_version bigint NOT NULL,
  version          bigint NOT NULL,
  etag_version     bigint NOT NULL,
  PRIMARY KEY (hub, device_id, module_id)
);

CREATE TABLE twin.outbox (
  id         bigserial PRIMARY KEY,
  event_id   uuid NOT NULL,
  subject    text NOT NULL,
  headers    jsonb NOT NULL,
  body       bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
