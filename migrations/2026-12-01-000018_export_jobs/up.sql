-- Export jobs (issue 13): a tenant requests an export over GraphQL; a background worker of
-- the server (the platform path) writes the archive to TENANTRY_EXPORT_DIR. The job's state
-- is here, so jobs survive a restart.

CREATE TABLE export_jobs (
  tenant_id     uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id            uuid NOT NULL,
  requested_by  uuid REFERENCES users (id),
  status        text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
  total_rows    bigint NOT NULL DEFAULT 0,
  rows_done     bigint NOT NULL DEFAULT 0,
  bytes_done    bigint NOT NULL DEFAULT 0,
  error         text,
  file          text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
ALTER TABLE export_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE export_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON export_jobs
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT, INSERT ON export_jobs TO tenantry_app;

-- The worker's queue across tenants: a platform table (no tenant_id column; the worker, as
-- the table owner, reads it whole). A request may only add its own tenant's job, and reads
-- nothing. A worker holds its entry's row lock (FOR UPDATE SKIP LOCKED) while it runs the
-- job and deletes the entry when done: a worker that dies releases it to the next one.
CREATE TABLE export_queue (
  job_id     uuid PRIMARY KEY,
  tenant     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  queued_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE export_queue ENABLE ROW LEVEL SECURITY;
CREATE POLICY enqueue_own ON export_queue FOR INSERT TO tenantry_app
  WITH CHECK (tenant = app.current_tenant_id());
GRANT INSERT ON export_queue TO tenantry_app;

CREATE FUNCTION app.export_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenantry_exports', '');
  RETURN NULL;
END $$;
CREATE TRIGGER export_queue_notify AFTER INSERT ON export_queue
  FOR EACH STATEMENT EXECUTE FUNCTION app.export_queue_notify();
