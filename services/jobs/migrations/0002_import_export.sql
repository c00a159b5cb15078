-- Bulk import/export jobs (POST /jobs/create; seeds-protocols-ops §10). At most one active per hub.
-- Any jobs process claims an enqueued job (or one whose lease lapsed) and runs it to the end.
CREATE TABLE jobs.bulk_jobs (
  hub              text NOT NULL,
  job_id           text NOT NULL,
  type             text NOT NULL CHECK (type IN ('export', 'import')),
  status           text NOT NULL CHECK (status IN ('enqueued', 'running', 'completed', 'failed', 'cancelled')),
  progress         integer NOT NULL DEFAULT 0,
  input_uri        text,
  output_uri       text NOT NULL,
  exclude_keys     boolean NOT NULL DEFAULT false,
  created_time     timestamptz NOT NULL DEFAULT now(),
  start_time       timestamptz,
  end_time         timestamptz,
  failure_reason   text,
  lease_until      timestamptz,
  PRIMARY KEY (hub, job_id)
);
CREATE INDEX bulk_jobs_active ON jobs.bulk_jobs (status) WHERE status IN ('enqueued', 'running');
