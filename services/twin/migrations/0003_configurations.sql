-- Automatic device configurations (seeds-protocols-ops §9). One document per configuration; the
-- twin records which configurations target it (`configurations`, queryable as
-- configurations.[[id]].status) and which desired paths each one wrote (`config_paths`).
CREATE TABLE twin.configurations (
  hub          text NOT NULL,
  id           text NOT NULL,
  doc          jsonb NOT NULL,
  etag_version bigint NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (hub, id)
);

ALTER TABLE twin.twins ADD COLUMN configurations jsonb NOT NULL DEFAULT '{}';
ALTER TABLE twin.twins ADD COLUMN config_paths jsonb NOT NULL DEFAULT '{}';
