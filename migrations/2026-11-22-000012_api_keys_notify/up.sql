-- Valid API keys are cached per process (src/auth/tenant.rs). Revoking, re-scoping or
-- deleting one is announced on the `tenantry_tenancy` channel like membership changes, so
-- every server process forgets its cached keys at once instead of waiting for the TTL.
CREATE TRIGGER api_keys_notify AFTER UPDATE OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION app.notify_tenancy('tenant_id');
