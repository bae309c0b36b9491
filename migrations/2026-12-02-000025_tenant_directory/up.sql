-- Where to look for one person's tenants and invitations (issue 15, item 3). `myTenants`
-- and `myInvitations` read one user's rows in every tenant; on Citus, memberships and
-- invitations are distributed by tenant, so those reads went to every node. These two
-- global tables say which tenants to look in; the rows themselves are then read tenant by
-- tenant, each read routed to the one node holding that tenant. On Citus both are
-- reference tables (a copy on every node, read locally).
--
-- An index, not the truth: a row only says "look in this tenant". The reads check the
-- membership or the invitation itself, so a stale row (a membership since removed) shows
-- nothing, and a forged one (the server's runtime role may add rows for its own tenant
-- only) shows nothing either. A missing row would hide a tenant: every path that adds a
-- membership or an invitation adds its row in the same transaction, bulk loads record
-- theirs with `app.index_tenant_directory()`, and this migration fills both from what is
-- there. The column is `of_tenant`, not `tenant_id`: these are global tables, read across
-- tenants by the auth path like `users`, not tenant tables (purge, export and the
-- isolation invariants key on `tenant_id`).
-- Indexes the current tenant's memberships and pending invitations (after a bulk load: seed,
-- import). Runs as the caller, under the policies below. (Created first: on Citus a
-- function may not be created after the backfill's parallel reads in one transaction.)
CREATE FUNCTION app.index_tenant_directory() RETURNS void
  LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_tenant uuid := app.current_tenant_id();
BEGIN
  IF v_tenant IS NULL THEN
    RAISE EXCEPTION 'app.index_tenant_directory() needs app.tenant_id';
  END IF;
  INSERT INTO public.member_directory (user_id, of_tenant)
    SELECT m.user_id, v_tenant FROM public.memberships m WHERE m.tenant_id = v_tenant
    ON CONFLICT DO NOTHING;
  INSERT INTO public.invitation_directory (email, of_tenant)
    SELECT DISTINCT lower(i.email), v_tenant FROM public.invitations i
     WHERE i.tenant_id = v_tenant AND i.accepted_at IS NULL AND i.declined_at IS NULL
       AND i.revoked_at IS NULL AND i.expires_at > now()
    ON CONFLICT DO NOTHING;
END $$;
REVOKE ALL ON FUNCTION app.index_tenant_directory() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.index_tenant_directory() TO tenantry_app;

-- One DO block, one EXECUTE per command: on Citus, Citus hands a Citus table's DDL to the
-- workers as the text of the query it came in, which may hold one command only. The tables
-- become reference tables before they get their policies and rows.
--
-- No foreign keys: on Citus, a write to a reference table locks the reference tables it
-- refers to on every node, as the writing role, which may not lock `users` ("permission
-- denied for table users"). A row whose user or tenant is gone shows nothing (readers join
-- `tenants` and check the membership); purge removes a tenant's rows.
DO $$
DECLARE
  citus boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus');
  command text;
  tenant uuid;
BEGIN
  CREATE TABLE public.member_directory (
    user_id   uuid NOT NULL,
    of_tenant uuid NOT NULL,
    PRIMARY KEY (user_id, of_tenant)
  );
  CREATE TABLE public.invitation_directory (
    -- lower(email), as invitations are matched.
    email     text NOT NULL,
    of_tenant uuid NOT NULL,
    PRIMARY KEY (email, of_tenant)
  );
  IF citus THEN
    PERFORM create_reference_table('public.member_directory');
    PERFORM create_reference_table('public.invitation_directory');
  END IF;
  FOREACH command IN ARRAY ARRAY[
    'CREATE INDEX member_directory_of_tenant ON public.member_directory (of_tenant)',
    'CREATE INDEX invitation_directory_of_tenant ON public.invitation_directory (of_tenant)',
    'ALTER TABLE public.member_directory ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE public.member_directory FORCE ROW LEVEL SECURITY',
    'ALTER TABLE public.invitation_directory ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE public.invitation_directory FORCE ROW LEVEL SECURITY',
    -- The auth path reads anyone's memberships (as it reads every membership) and the
    -- invitations to its user's own address only (as on invitations); every other role
    -- (requests, and the platform path with a tenant set) sees and writes those of its
    -- own tenant only.
    'CREATE POLICY auth_directory ON public.member_directory FOR SELECT TO tenantry_auth USING (true)',
    'CREATE POLICY own_tenant ON public.member_directory
       USING (of_tenant = app.current_tenant_id()) WITH CHECK (of_tenant = app.current_tenant_id())',
    'CREATE POLICY auth_directory ON public.invitation_directory FOR SELECT TO tenantry_auth
       USING (email = app.current_user_email())',
    'CREATE POLICY own_tenant ON public.invitation_directory
       USING (of_tenant = app.current_tenant_id()) WITH CHECK (of_tenant = app.current_tenant_id())',
    'GRANT SELECT ON public.member_directory, public.invitation_directory TO tenantry_auth',
    'GRANT SELECT, INSERT, DELETE ON public.member_directory, public.invitation_directory TO tenantry_app'
  ] LOOP
    EXECUTE command;
  END LOOP;
  -- Filled from what is there, tenant by tenant with the tenant set: an owner that is not
  -- a superuser reads memberships and invitations under their FORCEd policies, and would
  -- read nothing without one. (A SET LOCAL, which reaches Citus's workers; set_config
  -- does not.)
  FOR tenant IN SELECT id FROM public.tenants LOOP
    EXECUTE format('SET LOCAL app.tenant_id = %L', tenant);
    PERFORM app.index_tenant_directory();
  END LOOP;
  EXECUTE 'SET LOCAL app.tenant_id TO DEFAULT';
END $$;
