-- Consumer groups of each hub's built-in endpoint (besides $Default, which always exists).
-- Names compare case-insensitively, as Event Hubs does.
CREATE TABLE messaging.consumer_groups (
  hub        text NOT NULL,
  name_key   text NOT NULL,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (hub, name_key)
);
