-- Every change to a tenant's status or to a membership is announced on the
-- `tenantry_tenancy` channel (delivered at commit), whoever makes it, so every server
-- process drops its cached memberships at once instead of waiting for the cache TTL.
-- The trigger's argument names the column holding the tenant id.
CREATE FUNCTION app.notify_tenancy() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenantry_tenancy',
                    coalesce(to_jsonb(NEW), to_jsonb(OLD)) ->> TG_ARGV[0]);
  RETURN NULL;
END $$;

CREATE TRIGGER tenants_notify AFTER UPDATE OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION app.notify_tenancy('id');
CREATE TRIGGER memberships_notify AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION app.notify_tenancy('tenant_id');
