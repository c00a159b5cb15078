-- A hub's routing configuration: one document in the shape of ARM's properties.routing, replaced
-- as a whole (the etag guards concurrent edits).
CREATE TABLE routing.configs (
  hub        text PRIMARY KEY,
  doc        jsonb NOT NULL,
  etag       text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Health of each custom endpoint as the deliverers last saw it; endpoints without a row are "unknown".
CREATE TABLE routing.endpoint_health (
  hub              text NOT NULL,
  endpoint_key     text NOT NULL,
  status           text NOT NULL CHECK (status IN ('healthy', 'unhealthy', 'dead')),
  last_error       text,
  last_error_time  timestamptz,
  last_success     timestamptz,
  failing_since    timestamptz,
  PRIMARY KEY (hub, endpoint_key)
);

-- Event Grid-style subscriptions of a hub (one document: a list of webhooks with filters).
CREATE TABLE routing.event_subscriptions (
  hub  text PRIMARY KEY,
  doc  jsonb NOT NULL
);
