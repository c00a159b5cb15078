-- The connection that is current for an identity: a disconnect report applies only when it names it.
ALTER TABLE registry.devices ADD COLUMN connection_id text NOT NULL DEFAULT '';
ALTER TABLE registry.modules ADD COLUMN connection_id text NOT NULL DEFAULT '';
