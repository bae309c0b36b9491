REVOKE UPDATE (settings, updated_at) ON tenants FROM tenantry_app;
DROP FUNCTION app.resolve_member(uuid, uuid, text);
CREATE FUNCTION app.resolve_member(p_user uuid, p_tenant uuid, p_slug text)
  RETURNS TABLE (tenant_id uuid, tenant_status text, member_role text)
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path = pg_catalog, public
AS $$
DECLARE
  t_id uuid;
  t_status text;
  previous text := current_setting('app.tenant_id', true);
BEGIN
  SELECT t.id, t.status INTO t_id, t_status
    FROM public.tenants t
   WHERE (p_tenant IS NOT NULL AND t.id = p_tenant)
      OR (p_tenant IS NULL AND t.slug = p_slug);
  IF NOT FOUND OR t_status = 'deleted' THEN
    RETURN;
  END IF;
  PERFORM set_config('app.tenant_id', t_id::text, true);
  RETURN QUERY
    SELECT t_id, t_status,
           (SELECT m.role FROM public.memberships m WHERE m.tenant_id = t_id AND m.user_id = p_user);
  PERFORM set_config('app.tenant_id', coalesce(previous, ''), true);
END $$;
REVOKE ALL ON FUNCTION app.resolve_member(uuid, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.resolve_member(uuid, uuid, text) TO tenantry_app;
