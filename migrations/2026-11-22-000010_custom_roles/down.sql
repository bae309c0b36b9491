DROP FUNCTION app.resolve_member(uuid, uuid, text, text);
CREATE FUNCTION app.resolve_member(p_user uuid, p_tenant uuid, p_slug text, p_domain text DEFAULT NULL)
  RETURNS TABLE (tenant_id uuid, tenant_status text, member_role text,
                 tenant_plan text, disabled_features text[])
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
   -- A registered domain names the tenant before a path slug does.
   ORDER BY (x.custom_domain IS NOT DISTINCT FROM p_domain) DESC
   LIMIT 1;
  IF NOT FOUND OR t.status = 'deleted' THEN
    RETURN;
  END IF;
  PERFORM set_config('app.tenant_id', t.id::text, true);
  RETURN QUERY
    SELECT t.id, t.status,
           (SELECT m.role FROM public.memberships m WHERE m.tenant_id = t.id AND m.user_id = p_user),
           t.plan,
           coalesce(ARRAY(SELECT jsonb_array_elements_text(t.settings -> 'disabled_features')), '{}');
  PERFORM set_config('app.tenant_id', coalesce(previous, ''), true);
END $$;
REVOKE ALL ON FUNCTION app.resolve_member(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text, text) TO tenantry_app;
DROP TRIGGER custom_roles_notify ON custom_roles;
ALTER TABLE memberships DROP COLUMN custom_role_id;
DROP TABLE custom_roles;
