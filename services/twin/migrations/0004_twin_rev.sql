-- A row revision that every write of a twin bumps (whatever section it touches), so a twin
-- process can write from the state it remembers with `WHERE rev = <the rev it read>` and learn
-- from a miss that another process wrote in between.
ALTER TABLE twin.twins ADD COLUMN rev bigint NOT NULL DEFAULT 0;
