-- IP filter rules of a hub (protocols-ops §8): ordered, first match wins, at most 10.
ALTER TABLE registry.hubs ADD COLUMN ip_filter_rules jsonb NOT NULL DEFAULT '[]';
ALTER TABLE registry.hubs ADD COLUMN ip_filter_version bigint NOT NULL DEFAULT 0;
