-- Jobs (devguide §14). A job is listed out into one device_jobs row per target device; any jobs
-- process claims rows (FOR UPDATE SKIP LOCKED), runs them and records the outcome fenced by the
-- attempt number, so a result is recorded once even if a lease expired and another process retried.
CREATE TABLE jobs.jobs (
  hub                  text NOT NULL,
  job_id               text NOT NULL,
  type                 text NOT NULL CHECK (type IN ('scheduleDeviceMethod', 'scheduleUpdateTwin')),
  status               text NOT NULL CHECK (status IN ('queued', 'scheduled', 'running', 'completed', 'failed', 'cancelled')),
  query_condition      text NOT NULL,
  -- what each device gets: {"cloudToDeviceMethod": …} or {"updateTwin": …}
  spec                 jsonb NOT NULL,
  created_time         timestamptz NOT NULL DEFAULT now(),
  start_time           timestamptz NOT NULL,
  max_execution_seconds integer NOT NULL,
  end_time             timestamptz,
  failure_reason       text,
  status_message       text,
  -- the device list is complete (all device_jobs rows written)
  expanded             boolean NOT NULL DEFAULT false,
  expand_lease_until   timestamptz,
  PRIMARY KEY (hub, job_id)
);
CREATE INDEX jobs_active ON jobs.jobs (status, start_time) WHERE status IN ('queued', 'scheduled', 'running');
CREATE INDEX jobs_created ON jobs.jobs (hub, created_time, job_id);

CREATE TABLE jobs.device_jobs (
  hub          text NOT NULL,
  job_id       text NOT NULL,
  device_id    text NOT NULL,
  status       text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  attempt      integer NOT NULL DEFAULT 0,
  lease_until  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  start_time   timestamptz,
  end_time     timestamptz,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  outcome      jsonb,
  error        jsonb,
  PRIMARY KEY (hub, job_id, device_id),
  FOREIGN KEY (hub, job_id) REFERENCES jobs.jobs (hub, job_id) ON DELETE CASCADE
);
CREATE INDEX device_jobs_todo ON jobs.device_jobs (hub, job_id, status) WHERE status IN ('pending', 'running');
CREATE INDEX device_jobs_by_device ON jobs.device_jobs (hub, device_id);

-- One token bucket per hub for device operations, shared by every jobs process.
CREATE TABLE jobs.hub_rate (
  hub     text PRIMARY KEY,
  tokens  double precision NOT NULL,
  updated timestamptz NOT NULL DEFAULT now()
);
