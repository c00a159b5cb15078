-- A queue holds at most 50 messages. Each message takes one of the slots 0..49 of its queue, and
-- the unique index makes a 51st impossible even for concurrent sends — so an enqueue is one
-- autocommit statement instead of a transaction serialized by an advisory lock.
ALTER TABLE messaging.c2d ADD COLUMN slot smallint;
UPDATE messaging.c2d c SET slot = n.rn
FROM (SELECT hub, device_id, module_id, seq, row_number() OVER (PARTITION BY hub, device_id, module_id ORDER BY seq) - 1 AS rn FROM messaging.c2d) n
WHERE c.hub = n.hub AND c.device_id = n.device_id AND c.module_id = n.module_id AND c.seq = n.seq;
ALTER TABLE messaging.c2d ALTER COLUMN slot SET NOT NULL;
CREATE UNIQUE INDEX c2d_slot ON messaging.c2d (hub, device_id, module_id, slot);
