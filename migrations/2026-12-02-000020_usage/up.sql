-- Usage metering (issue 12): per tenant and UTC day, what the tenant's requests used. The
-- server counts in memory on the request path and its meter flushes the counts here in
-- the background, one upsert per flush (never a write per request).
--
-- * usage_daily is a tenant table like any other (forced RLS, tenant_isolation): a request
--   (tenantry_app) reads its own tenant's rows and writes none.
-- * The meter writes through its own NOLOGIN role, tenantry_meter, whose policies let it
--   upsert rows of every tenant in one statement and count (never read) each tenant's
--   members and contacts: it holds SELECT on their tenant_id column only. The platform
--   path reads usage across tenants as tenantry_meter too.
-- * Not audited: the rows are the server's own counters, rewritten every flush, not
--   anybody's change to the tenant's data (audit.rs and the export catalog list it).
-- * API keys may carry their own request rate (requests per minute), on top of the
--   tenant's plan rate; NULL: only the plan's.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantry_meter') THEN
    CREATE ROLE tenantry_meter NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
  -- The login role must be able to SET ROLE tenantry_meter; superusers already can.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT tenantry_meter TO %I', current_user);
  END IF;
END $$;
GRANT USAGE ON SCHEMA app TO tenantry_meter;
GRANT USAGE ON SCHEMA public TO tenantry_meter;
GRANT EXECUTE ON FUNCTION app.current_tenant_id() TO tenantry_meter;

CREATE TABLE usage_daily (
  tenant_id     uuid NOT NULL REFERENCES tenants (id),
  day           date NOT NULL,
  requests      bigint NOT NULL DEFAULT 0 CHECK (requests >= 0),
  errors        bigint NOT NULL DEFAULT 0 CHECK (errors >= 0),
  mutations     bigint NOT NULL DEFAULT 0 CHECK (mutations >= 0),
  query_cost    bigint NOT NULL DEFAULT 0 CHECK (query_cost >= 0),
  rows_written  bigint NOT NULL DEFAULT 0 CHECK (rows_written >= 0),
  -- Sampled at the day's last flush.
  members       bigint NOT NULL DEFAULT 0,
  contacts      bigint NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, day)
);
ALTER TABLE usage_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_daily FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_daily
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT ON usage_daily TO tenantry_app;

CREATE POLICY usage_meter ON usage_daily TO tenantry_meter USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON usage_daily TO tenantry_meter;
-- Counting, not reading: the tenant_id column only.
CREATE POLICY usage_meter ON memberships FOR SELECT TO tenantry_meter USING (true);
GRANT SELECT (tenant_id) ON memberships TO tenantry_meter;
CREATE POLICY usage_meter ON contacts FOR SELECT TO tenantry_meter USING (true);
GRANT SELECT (tenant_id) ON contacts TO tenantry_meter;
-- Which tenants exist (a purged one's counts are dropped), their slug and plan.
CREATE POLICY usage_meter ON tenants FOR SELECT TO tenantry_meter USING (true);
GRANT SELECT (id, slug, plan) ON tenants TO tenantry_meter;

ALTER TABLE api_keys ADD COLUMN requests_per_minute integer
  CHECK (requests_per_minute BETWEEN 1 AND 1000000);
