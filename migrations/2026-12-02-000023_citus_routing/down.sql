-- The functions as 000022 made them.
CREATE OR REPLACE FUNCTION app.is_member(p_tenant uuid, p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM public.memberships m WHERE m.tenant_id = p_tenant AND m.user_id = p_user);
END $$;

CREATE OR REPLACE FUNCTION app.shares_current_tenant(p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM public.memberships m
                  WHERE m.tenant_id = app.current_tenant_id() AND m.user_id = p_user);
END $$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    ALTER FUNCTION app.current_user_email() RESET citus.allow_nested_distributed_execution;
  END IF;
END $$;
