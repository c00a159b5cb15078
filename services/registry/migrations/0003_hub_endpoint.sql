-- The built-in events endpoint of each hub, fixed when the hub is created (IoT Hub: partitions
-- 2-128, default 4; retention 1-7 days, default 1).
ALTER TABLE registry.hubs ADD COLUMN partition_count integer NOT NULL DEFAULT 4;
ALTER TABLE registry.hubs ADD COLUMN retention_days integer NOT NULL DEFAULT 1;
