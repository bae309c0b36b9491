ALTER TABLE api_keys DROP COLUMN requests_per_minute;
REVOKE SELECT (id, slug, plan) ON tenants FROM tenantry_meter;
DROP POLICY usage_meter ON tenants;
REVOKE SELECT (tenant_id) ON contacts FROM tenantry_meter;
DROP POLICY usage_meter ON contacts;
REVOKE SELECT (tenant_id) ON memberships FROM tenantry_meter;
DROP POLICY usage_meter ON memberships;
DROP TABLE usage_daily;
REVOKE EXECUTE ON FUNCTION app.current_tenant_id() FROM tenantry_meter;
REVOKE USAGE ON SCHEMA public FROM tenantry_meter;
REVOKE USAGE ON SCHEMA app FROM tenantry_meter;
-- The role stays: roles are cluster-wide and other databases may use it (as tenantry_app).
