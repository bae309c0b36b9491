-- Custom roles (plan feature custom_roles): a tenant-defined set of permissions that a
-- member holds in addition to those of their built-in role.
CREATE TABLE custom_roles (
  tenant_id    uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id           uuid NOT NULL,
  name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 60),
  permissions  text[] NOT NULL DEFAULT '{}',
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
ALTER TABLE custom_roles ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_roles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON custom_roles
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON custom_roles TO tenantry_app;

ALTER TABLE memberships ADD COLUMN custom_role_id uuid;
ALTER TABLE memberships ADD FOREIGN KEY (tenant_id, custom_role_id)
  REFERENCES custom_roles (tenant_id, id) ON DELETE SET NULL (custom_role_id);
-- A change of a custom role's permissions must reach the membership caches too.
CREATE TRIGGER custom_roles_notify AFTER UPDATE OR DELETE ON custom_roles
  FOR EACH ROW EXECUTE FUNCTION app.notify_tenancy('tenant_id');

-- Resolves the tenant a request names (by id, slug or custom domain) and the caller's
-- membership in it: role, the tenant's plan and switched-off features, and the custom
-- role's permissions. Runs as the owner because the tenant must be found before one is
-- set; it returns only what the caller is entitled to know (no row when the tenant does
-- not exist or is deleted).
CREATE FUNCTION app.resolve_member(p_user uuid, p_tenant uuid, p_slug text, p_domain text DEFAULT NULL)
  RETURNS TABLE (tenant_id uuid, tenant_status text, member_role text,
                 tenant_plan text, disabled_features text[], custom_permissions text[])
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, public
AS $$
DECLARE
  t record;
  previous text := current_setting('app.tenant_id', true);
BEGIN
  SELECT x.id, x.status, x.plan, x.settings INTO t
    FROM public.tenants x
   WHERE (p_tenant IS NOT NULL AND x.id = p_tenant)
      OR (p_tenant IS NULL AND (x.slug = p_slug OR x.custom_domain = p_domain))
   ORDER BY (x.custom_domain IS NOT DISTINCT FROM p_domain) DESC
   LIMIT 1;
  IF NOT FOUND OR t.status = 'deleted' THEN
    RETURN;
  END IF;
  -- memberships is FORCE RLS: read it the same way a request does, then restore.
  PERFORM set_config('app.tenant_id', t.id::text, true);
  RETURN QUERY
    SELECT t.id, t.status, m.role, t.plan,
           coalesce(ARRAY(SELECT jsonb_array_elements_text(t.settings -> 'disabled_features')), '{}'),
           coalesce(r.permissions, '{}')
      FROM (SELECT 1) one
      LEFT JOIN public.memberships m ON m.tenant_id = t.id AND m.user_id = p_user
      LEFT JOIN public.custom_roles r ON r.tenant_id = t.id AND r.id = m.custom_role_id;
  PERFORM set_config('app.tenant_id', coalesce(previous, ''), true);
END $$;
REVOKE ALL ON FUNCTION app.resolve_member(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text, text) TO tenantry_app;
