-- Tenantry on Citus (issue 15). Two parts:
--
-- 1. Everywhere: the three policies that held a subquery say the same through STABLE SQL
--    functions, because Citus refuses subqueries in the policies of distributed and reference
--    tables. The functions run as the caller (SECURITY INVOKER), so the caller's own RLS still
--    limits what they see, exactly as the subqueries did.
-- 2. Only when the `citus` extension is present (created by whoever made the cluster, before
--    migrating): every tenant table becomes a distributed table by tenant_id, all co-located;
--    the global tables a tenant table points at (tenants, users) become reference tables;
--    the platform's own tables stay on the coordinator. Without Citus, nothing else changes.

-- (PL/pgSQL rather than SQL: Citus cannot plan a SQL function's parameters. The tables are
-- named with their schema and the search path is pinned: a policy's own subquery was bound
-- to the real tables when it was created, and a caller's temporary table of the same name
-- must not stand in for them now.)
CREATE FUNCTION app.is_member(p_tenant uuid, p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM public.memberships m WHERE m.tenant_id = p_tenant AND m.user_id = p_user);
END $$;

CREATE FUNCTION app.shares_current_tenant(p_user uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM public.memberships m
                  WHERE m.tenant_id = app.current_tenant_id() AND m.user_id = p_user);
END $$;

CREATE FUNCTION app.current_user_email() RETURNS text
  LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  RETURN (SELECT lower(u.email) FROM public.users u WHERE u.id = app.current_user_id());
END $$;

REVOKE ALL ON FUNCTION app.is_member(uuid, uuid), app.shares_current_tenant(uuid),
                       app.current_user_email() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.is_member(uuid, uuid), app.shares_current_tenant(uuid),
                          app.current_user_email()
  TO tenantry_app, tenantry_auth, tenantry_audit, tenantry_meter;

-- Before: EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id), where the
-- memberships policy kept only the current tenant's rows. Now the tenant is also named, so
-- on Citus the lookup goes to the tenant's node only.
ALTER POLICY user_visibility ON users
  USING (id = app.current_user_id() OR app.shares_current_tenant(id));
ALTER POLICY auth_last_tenant ON users
  USING (id = app.current_user_id())
  WITH CHECK (id = app.current_user_id()
              AND (last_tenant_id IS NULL OR app.is_member(last_tenant_id, id)));
ALTER POLICY auth_invitee ON invitations
  USING (lower(email) = app.current_user_email());

-- Whether this node is where the platform's own tables live: always, on one server. On
-- Citus, triggers of reference tables fire on every node's copy; the platform audit trigger
-- writes only from the coordinator's (see app.audit_platform_row).
CREATE FUNCTION app.is_coordinator() RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT true $$;

CREATE OR REPLACE FUNCTION app.audit_platform_row() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  c record;
BEGIN
  -- On Citus the trigger fires on every node's copy of a reference table; the platform's
  -- log lives on the coordinator, so only that copy writes it.
  IF NOT app.is_coordinator() THEN
    RETURN NULL;
  END IF;
  SELECT * INTO c FROM app.audit_changes(
    CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
    CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
    string_to_array(TG_ARGV[1], ','),
    TG_ARGV[2:TG_NARGS - 1]);
  IF TG_OP = 'UPDATE' AND c.old_values IS NULL THEN
    RETURN NULL;
  END IF;
  PERFORM app.audit_append_platform(lower(TG_OP), TG_TABLE_NAME, r ->> TG_ARGV[0],
                                    c.old_values, c.new_values);
  IF TG_TABLE_NAME = 'tenants' AND TG_OP = 'UPDATE' THEN
    PERFORM app.audit_append((r ->> 'id')::uuid, 'update', 'tenants', r ->> 'id',
                             c.old_values, c.new_values);
  END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION app.notify_tenancy() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  -- On Citus this fires on the worker that holds the row (or on every node's copy of a
  -- reference table). Nobody listens there, and a worker that has sent NOTIFY cannot take
  -- part in a two-phase commit: only the coordinator announces.
  IF NOT app.is_coordinator() THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('tenantry_tenancy',
                    coalesce(to_jsonb(NEW), to_jsonb(OLD)) ->> TG_ARGV[0]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION app.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  change text;
BEGIN
  -- On Citus this fires on the worker that holds the row (or on every node's copy of a
  -- reference table). Nobody listens there, and a worker that has sent NOTIFY cannot take
  -- part in a two-phase commit: only the coordinator announces.
  IF NOT app.is_coordinator() THEN
    RETURN NULL;
  END IF;
  -- Bulk loads by operators (`tenantry seed`, imports) on the login role may stay quiet;
  -- the runtime roles cannot.
  IF current_setting('app.quiet_events', true) = 'on'
     AND current_user NOT IN ('tenantry_app', 'tenantry_auth') THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    change := 'created';
  ELSIF TG_TABLE_NAME = 'conversations' THEN
    IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'closed' THEN
      change := 'closed';
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND OLD.status = 'closed' THEN
      change := 'reopened';
    ELSIF NEW.assignee_id IS DISTINCT FROM OLD.assignee_id THEN
      change := 'assigned';
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.subject IS DISTINCT FROM OLD.subject THEN
      change := 'updated';
    ELSE
      -- A new message moves last_message_at: messagePosted tells that already.
      RETURN NULL;
    END IF;
  ELSE
    change := 'updated';
  END IF;
  PERFORM pg_notify('tenantry_events', json_build_object(
    'tenant', NEW.tenant_id, 'table', TG_TABLE_NAME, 'id', NEW.id, 'change', change)::text);
  RETURN NULL;
END $$;

-- Makes tenant table `t` distributed by tenant_id, co-located with every other tenant table.
-- A no-op without Citus; every later migration that creates a tenant table calls it.
CREATE FUNCTION app.distribute_tenant_table(t regclass) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  -- The audit and notify triggers are ours and stay on the shard's own node (they write
  -- only co-located rows of the same tenant), which is what Citus calls "unsafe" in general.
  SET LOCAL citus.enable_unsafe_triggers = on;
  IF EXISTS (SELECT 1 FROM pg_dist_partition WHERE partmethod = 'h'
                                                AND logicalrelid = 'public.contacts'::regclass)
     AND t <> 'public.contacts'::regclass THEN
    PERFORM create_distributed_table(t, 'tenant_id', colocate_with => 'public.contacts');
  ELSE
    PERFORM create_distributed_table(t, 'tenant_id', colocate_with => 'none');
  END IF;
END $$;
REVOKE ALL ON FUNCTION app.distribute_tenant_table(regclass) FROM PUBLIC;

-- ON DELETE SET NULL (col) for a foreign key (tenant_id, col) on Citus (see below):
-- BEFORE DELETE on the parent, clears `col` in the child rows of the same tenant (the same
-- node: the tables are co-located). Arguments: child table, child column, parent column.
CREATE FUNCTION app.null_references() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  EXECUTE format('UPDATE %I SET %I = NULL WHERE tenant_id = $1 AND %I = $2',
                 TG_ARGV[0], TG_ARGV[1], TG_ARGV[1])
    USING OLD.tenant_id, (to_jsonb(OLD) ->> TG_ARGV[2])::uuid;
  RETURN OLD;
END $$;
REVOKE ALL ON FUNCTION app.null_references() FROM PUBLIC;

DO $$
DECLARE
  tenant_tables text[] := ARRAY['contacts', 'custom_roles', 'memberships', 'conversations',
                                'messages', 'refresh_tokens', 'api_keys', 'invitations',
                                'audit_heads', 'audit_log', 'export_jobs', 'usage_daily'];
  fk record;
  saved text[] := '{}';
  set_null text[];
  t text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RETURN;
  END IF;
  -- Citus opens its connections to the workers as the current role (SET LOCAL ROLE
  -- included), so the runtime roles must be able to log in there. Their passwords (or
  -- the workers' pg_hba.conf) are the operator's: see README "Tenantry on Citus".
  ALTER ROLE tenantry_app LOGIN;
  ALTER ROLE tenantry_auth LOGIN;
  ALTER ROLE tenantry_audit LOGIN;
  ALTER ROLE tenantry_meter LOGIN;

  SET LOCAL citus.enable_unsafe_triggers = on;
  -- Foreign keys between tenant tables are set aside while they are distributed one by one
  -- (a local table may not point at a distributed one, nor the other way), then restored.
  FOR fk IN SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def
              FROM pg_constraint
             WHERE contype = 'f'
               AND conrelid::regclass::text = ANY (tenant_tables)
               AND confrelid::regclass::text = ANY (tenant_tables)
  LOOP
    -- Citus refuses ON DELETE SET NULL on keys that include the distribution column: the
    -- key is restored without the action, and a trigger on the parent does the same.
    set_null := regexp_match(fk.def, 'FOREIGN KEY \(tenant_id, (\w+)\) REFERENCES (\w+)\(tenant_id, (\w+)\) ON DELETE SET NULL \(\w+\)');
    IF set_null IS NOT NULL THEN
      fk.def := regexp_replace(fk.def, ' ON DELETE SET NULL \(\w+\)', '');
      saved := saved || format('CREATE TRIGGER %I BEFORE DELETE ON %I FOR EACH ROW EXECUTE FUNCTION app.null_references(%L, %L, %L)',
                               'null_' || fk.conname, set_null[2], fk.tbl, set_null[1], set_null[3]);
    END IF;
    saved := saved || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.conname, fk.def);
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
  END LOOP;

  PERFORM create_reference_table('public.tenants');
  PERFORM create_reference_table('public.users');
  FOREACH t IN ARRAY tenant_tables LOOP
    PERFORM app.distribute_tenant_table(('public.' || t)::regclass);
  END LOOP;
  FOREACH t IN ARRAY saved LOOP
    EXECUTE t;
  END LOOP;

  -- Citus refuses an UPDATE whose SET calls a STABLE function on the row's columns (the
  -- hash of the next entry), and a row's ctid means nothing across nodes: on Citus the
  -- head is locked and read first, and written back with plain values. Same chain, one
  -- statement more per entry.
  CREATE OR REPLACE FUNCTION app.audit_append(p_tenant uuid, p_action text, p_table text,
                                              p_row_id text, p_old jsonb, p_new jsonb)
    RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $f$
  DECLARE
    v_key uuid := NULLIF(current_setting('app.api_key_id', true), '')::uuid;
    v_user uuid := NULLIF(current_setting('app.user_id', true), '')::uuid;
    v_request uuid := NULLIF(current_setting('app.request_id', true), '')::uuid;
    v_type text := CASE WHEN v_key IS NOT NULL THEN 'api_key'
                        WHEN v_user IS NOT NULL THEN 'user' END;
    v_actor uuid := coalesce(v_key, v_user);
    v_now timestamptz := clock_timestamp();
    h record;
    v_seq bigint;
    v_at timestamptz;
    v_hash bytea;
  BEGIN
    LOOP
      -- The head's row lock is held until commit: one writer per tenant at a time appends.
      SELECT x.seq, x.at, x.hash, x.closed INTO h
        FROM public.audit_heads x WHERE x.tenant_id = p_tenant FOR UPDATE;
      IF FOUND AND h.closed THEN
        -- Closed: the tenant is being purged, and its rows go without entries.
        RETURN;
      ELSIF FOUND THEN
        EXIT;
      END IF;
      INSERT INTO public.audit_heads (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
    END LOOP;
    v_seq := h.seq + 1;
    v_at := greatest(v_now, h.at);
    v_hash := pg_catalog.sha256(h.hash || convert_to(app.audit_content(
                v_seq, p_tenant::text, v_at, v_type, v_actor, v_request, p_action, p_table,
                p_row_id, p_old, p_new), 'UTF8'));
    UPDATE public.audit_heads SET seq = v_seq, at = v_at, hash = v_hash
     WHERE tenant_id = p_tenant;
    INSERT INTO public.audit_log (tenant_id, seq, occurred_at, actor_type, actor_id, request_id,
                                  action, table_name, row_id, old_values, new_values, hash)
    VALUES (p_tenant, v_seq, v_at, v_type, v_actor, v_request, p_action, p_table, p_row_id,
            p_old, p_new, v_hash);
  END $f$;

  -- On a worker the trigger fires on a shard, whose name is the table's plus `_<shard id>`;
  -- the entry names the table (app.audit_row of migration 000021 otherwise).
  CREATE OR REPLACE FUNCTION app.audit_row() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER AS $f$
  DECLARE
    r jsonb;
    keys text[] := string_to_array(TG_ARGV[0], ',');
    row_id text;
    c record;
  BEGIN
    IF current_setting('app.audit_bulk', true) = 'on'
       AND current_setting('role') NOT IN ('tenantry_app', 'tenantry_auth') THEN
      RETURN NULL; -- recorded per table by app.audit_bulk_load
    END IF;
    r := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    SELECT * INTO c FROM app.audit_changes(
      CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
      CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END,
      string_to_array(TG_ARGV[1], ',') || '{tenant_id}'::text[],
      TG_ARGV[2:TG_NARGS - 1]);
    IF TG_OP = 'UPDATE' AND c.old_values IS NULL THEN
      RETURN NULL; -- nothing changed
    END IF;
    IF cardinality(keys) = 1 THEN
      row_id := r ->> keys[1];
    ELSE
      SELECT string_agg(r ->> k, ',' ORDER BY i) INTO row_id
        FROM unnest(keys) WITH ORDINALITY AS u(k, i);
    END IF;
    PERFORM app.audit_append((r ->> 'tenant_id')::uuid, lower(TG_OP), regexp_replace(TG_TABLE_NAME, '_[0-9]+$', ''), row_id,
                             c.old_values, c.new_values);
    RETURN NULL;
  END $f$;

  CREATE OR REPLACE FUNCTION app.is_coordinator() RETURNS boolean LANGUAGE sql STABLE
    AS $f$ SELECT citus_is_coordinator() $f$;
END $$;
