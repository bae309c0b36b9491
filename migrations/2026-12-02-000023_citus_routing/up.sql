-- Citus routing for the policies' own lookups (issue 15). The functions of 000022 filtered
-- on `app.current_tenant_id()`, a call Citus cannot route on: each check went to every shard
-- of memberships. Now the tenant is read into a variable first, so the lookup is a
-- statement with a bound tenant and Citus sends it to the one shard that holds it. Same
-- meaning everywhere; without Citus nothing else changes.
--
-- On Citus these functions also run inside a query on a shard (a users row joined to the
-- members of a tenant, on the worker that holds the tenant). Citus refuses a distributed
-- query there unless `citus.allow_nested_distributed_execution` is on; it is set for these
-- functions only. `shares_current_tenant` names the request's tenant, whose memberships
-- shard is co-located with the shard being read: it runs locally, inside the same
-- transaction. `is_member(last_tenant_id, id)` in the WITH CHECK of `users` (a reference
-- table, written on every node's copy) may look on another node, over a connection of its
-- own, and so sees committed memberships only; the login path records a last tenant only
-- for a membership committed before (the reason Citus is wary of nesting in general).
CREATE OR REPLACE FUNCTION app.is_member(p_tenant uuid, p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF p_tenant IS NULL OR p_user IS NULL THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT 1 FROM public.memberships m WHERE m.tenant_id = p_tenant AND m.user_id = p_user);
END $$;

CREATE OR REPLACE FUNCTION app.shares_current_tenant(p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tenant uuid := app.current_tenant_id();
BEGIN
  IF v_tenant IS NULL OR p_user IS NULL THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT 1 FROM public.memberships m
                  WHERE m.tenant_id = v_tenant AND m.user_id = p_user);
END $$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  ALTER FUNCTION app.is_member(uuid, uuid) SET citus.allow_nested_distributed_execution = on;
  ALTER FUNCTION app.shares_current_tenant(uuid) SET citus.allow_nested_distributed_execution = on;
  ALTER FUNCTION app.current_user_email() SET citus.allow_nested_distributed_execution = on;
END $$;
