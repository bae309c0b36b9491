-- The audit log (issue 11): written by PostgreSQL itself, append-only for the server's
-- roles, and a SHA-256 hash chain per tenant that `tenantry audit verify` walks.
--
-- * Every tenant table gets the row trigger `audit` (attached with app.audit_table, which
--   later migrations call for the tables they add; a catalog test fails otherwise). It
--   records insert, update (the changed columns, old and new) and delete with the tenant,
--   the actor (app.api_key_id, else app.user_id), the request id (app.request_id), the table
--   and the row's primary key. Secret columns (hashes, sealed secrets, passwords) are
--   recorded as "[secret]", never their values.
-- * tenants and users (platform data) are recorded in platform_audit_log the same way:
--   tenant create, suspend, delete, plan change, purge (the tenant row's delete), users.
-- * Only the NOLOGIN role tenantry_audit may insert audit rows, and it acts only inside
--   the SECURITY DEFINER trigger functions it owns, which no other role may execute or
--   attach. The runtime roles may read their tenant's entries (tenantry_app) and nothing
--   else; a statement trigger refuses UPDATE, DELETE and TRUNCATE even to the owner unless
--   the operator's prune or purge says so (app.audit_maintenance).
-- * The chain: entry n of a tenant stores hash_n = sha256(hash_{n-1} || content_n), where
--   content is app.audit_content(...) below (the Rust verifier rebuilds the same text).
--   Each tenant's chain head (audit_heads) is a row the trigger updates, so its lock
--   orders concurrent writers of one tenant by commit: the second waits for the first to
--   commit or roll back. occurred_at never decreases along a chain, so time ranges and
--   the newest-first order are served by one index.

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tenantry_audit') THEN
    CREATE ROLE tenantry_audit NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
  END IF;
  -- The migrating role hands the trigger functions to tenantry_audit.
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE format('GRANT tenantry_audit TO %I', current_user);
  END IF;
END $$;
GRANT USAGE, CREATE ON SCHEMA app TO tenantry_audit;
GRANT USAGE ON SCHEMA public TO tenantry_audit;
GRANT EXECUTE ON FUNCTION app.current_tenant_id() TO tenantry_audit;

-- 32 zero bytes: the hash before a chain's first entry.
CREATE FUNCTION app.audit_genesis() RETURNS bytea
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea $$;

-- The canonical content of an entry: its fields as text, one per line (NULL as an empty
-- line; jsonb renders its own canonical text, which never contains a raw newline). The
-- verifier (src/audit/verify.rs) builds the same bytes.
CREATE FUNCTION app.audit_content(seq bigint, chain text, occurred_at timestamptz,
                                  actor_type text, actor_id uuid, request_id uuid,
                                  action text, table_name text, row_id text,
                                  old_values jsonb, new_values jsonb) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
  SELECT concat_ws(E'\n', seq::text, chain,
                   to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   coalesce(actor_type, ''), coalesce(actor_id::text, ''),
                   coalesce(request_id::text, ''), action, table_name, row_id,
                   coalesce(old_values::text, ''), coalesce(new_values::text, ''))
$$;

CREATE TABLE audit_log (
  tenant_id    uuid NOT NULL,
  seq          bigint NOT NULL,
  occurred_at  timestamptz NOT NULL,
  actor_type   text CHECK (actor_type IN ('user', 'api_key')),
  actor_id     uuid,
  request_id   uuid,
  action       text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
  table_name   text NOT NULL,
  row_id       text NOT NULL,
  old_values   jsonb,
  new_values   jsonb,
  hash         bytea NOT NULL,
  PRIMARY KEY (tenant_id, seq)
);
-- auditLog lists newest first (keyset on occurred_at, seq), narrowed by time, table, row
-- or actor; each filter has an index that leads with tenant_id.
CREATE INDEX audit_log_time_idx ON audit_log (tenant_id, occurred_at DESC, seq DESC);
CREATE INDEX audit_log_table_idx ON audit_log (tenant_id, table_name, occurred_at DESC, seq DESC);
CREATE INDEX audit_log_row_idx ON audit_log (tenant_id, row_id, occurred_at DESC, seq DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (tenant_id, actor_id, occurred_at DESC, seq DESC);
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
-- The trigger writes entries of the row's tenant, whatever app.tenant_id says (the
-- platform path and the auth path write rows of tenants they have not selected).
CREATE POLICY audit_writer ON audit_log FOR INSERT TO tenantry_audit WITH CHECK (true);
GRANT INSERT ON audit_log TO tenantry_audit;
GRANT SELECT ON audit_log TO tenantry_app;

-- Each tenant's chain head: the last entry's seq, hash and time; the prefix pruned so far
-- (summarised by the hash of its last entry); `closed` while the tenant is being purged.
CREATE TABLE audit_heads (
  tenant_id    uuid NOT NULL,
  seq          bigint NOT NULL DEFAULT 0,
  hash         bytea NOT NULL DEFAULT app.audit_genesis(),
  at           timestamptz NOT NULL DEFAULT '-infinity',
  pruned_seq   bigint NOT NULL DEFAULT 0,
  pruned_hash  bytea NOT NULL DEFAULT app.audit_genesis(),
  closed       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id)
);
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_heads FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_heads
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
CREATE POLICY audit_writer ON audit_heads TO tenantry_audit USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON audit_heads TO tenantry_audit;

-- The platform log: one chain for the whole deployment. Platform data: no runtime role
-- reads it; platform administrators read it through the platform path.
CREATE TABLE platform_audit_log (
  seq          bigint PRIMARY KEY,
  occurred_at  timestamptz NOT NULL,
  actor_type   text CHECK (actor_type IN ('user', 'api_key')),
  actor_id     uuid,
  request_id   uuid,
  action       text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
  table_name   text NOT NULL,
  row_id       text NOT NULL,
  old_values   jsonb,
  new_values   jsonb,
  hash         bytea NOT NULL,
  -- The database role that made the change (operators' commands have no app.user_id).
  db_role      text NOT NULL
);
CREATE INDEX platform_audit_log_time_idx ON platform_audit_log (occurred_at DESC, seq DESC);
CREATE TABLE platform_audit_head (
  id           boolean PRIMARY KEY DEFAULT true CHECK (id),
  seq          bigint NOT NULL DEFAULT 0,
  hash         bytea NOT NULL DEFAULT app.audit_genesis(),
  at           timestamptz NOT NULL DEFAULT '-infinity',
  pruned_seq   bigint NOT NULL DEFAULT 0,
  pruned_hash  bytea NOT NULL DEFAULT app.audit_genesis()
);
INSERT INTO platform_audit_head DEFAULT VALUES;
GRANT INSERT ON platform_audit_log TO tenantry_audit;
GRANT SELECT, UPDATE ON platform_audit_head TO tenantry_audit;

-- Append only, even for the owner: UPDATE, DELETE and TRUNCATE of audit rows need the
-- operator's explicit app.audit_maintenance = 'on' (prune, purge). The runtime roles have
-- no such privilege at all; this catches the owner's mistakes, and the hash chain catches
-- whoever gets past it.
CREATE FUNCTION app.audit_append_only() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('app.audit_maintenance', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION app.audit_append_only();
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON platform_audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION app.audit_append_only();

-- The changes of one row: (old, new) as jsonb objects. Insert: new has every column;
-- delete: old has every column; update: only the columns that changed (NULL, NULL when
-- none did). `ignored` columns (tenant_id, generated ones) are left out; `secrets` (column
-- names, or column.key paths into jsonb) are replaced by "[secret]".
CREATE FUNCTION app.audit_changes(o jsonb, n jsonb, ignored text[], secrets text[],
                                  OUT old_values jsonb, OUT new_values jsonb)
  LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  path text[];
  s text;
BEGIN
  o := o - ignored;
  n := n - ignored;
  IF o IS NOT NULL AND n IS NOT NULL THEN
    SELECT jsonb_object_agg(a.key, a.value), jsonb_object_agg(a.key, b.value)
      INTO old_values, new_values
      FROM jsonb_each(o) a JOIN jsonb_each(n) b ON a.key = b.key
     WHERE a.value IS DISTINCT FROM b.value;
  ELSE
    old_values := o;
    new_values := n;
  END IF;
  FOREACH s IN ARRAY secrets LOOP
    path := string_to_array(s, '.');
    IF jsonb_typeof(old_values #> path) NOT IN ('null') THEN
      old_values := jsonb_set(old_values, path, '"[secret]"');
    END IF;
    IF jsonb_typeof(new_values #> path) NOT IN ('null') THEN
      new_values := jsonb_set(new_values, path, '"[secret]"');
    END IF;
  END LOOP;
END $$;

-- Appends one entry to `p_tenant`'s chain. Not executable by any runtime role: only the
-- trigger functions (running as tenantry_audit) call it. Names are schema-qualified
-- rather than pinned with SET search_path, which would cost a configuration change on
-- every call; the runtime roles can create no objects that a qualified name could reach.
--
-- The head row is updated once per entry. Within one transaction its versions pile up
-- (none can be pruned before commit), and an index lookup walks all of them: a statement
-- writing a million rows would be quadratic. So the transaction remembers where its own
-- latest version of the head is (a transaction-local setting, which a rolled-back
-- savepoint restores with everything else) and goes there directly (a TID scan).
CREATE FUNCTION app.audit_append(p_tenant uuid, p_action text, p_table text, p_row_id text,
                                 p_old jsonb, p_new jsonb) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  v_key uuid := NULLIF(current_setting('app.api_key_id', true), '')::uuid;
  v_user uuid := NULLIF(current_setting('app.user_id', true), '')::uuid;
  v_request uuid := NULLIF(current_setting('app.request_id', true), '')::uuid;
  v_type text := CASE WHEN v_key IS NOT NULL THEN 'api_key'
                      WHEN v_user IS NOT NULL THEN 'user' END;
  v_actor uuid := coalesce(v_key, v_user);
  v_name text := 'audit.head_' || replace(p_tenant::text, '-', '');
  v_where tid := NULLIF(current_setting(v_name, true), '')::tid;
  v_now timestamptz := clock_timestamp();
  h record;
BEGIN
  IF v_where IS NOT NULL THEN
    UPDATE public.audit_heads x
       SET seq = x.seq + 1,
           at = greatest(v_now, x.at),
           hash = pg_catalog.sha256(x.hash || convert_to(app.audit_content(
                    x.seq + 1, p_tenant::text, greatest(v_now, x.at), v_type, v_actor,
                    v_request, p_action, p_table, p_row_id, p_old, p_new), 'UTF8'))
     WHERE x.ctid = v_where AND x.tenant_id = p_tenant AND NOT x.closed
    RETURNING x.seq, x.at, x.hash, x.ctid INTO h;
    IF NOT FOUND THEN
      v_where := NULL;
    END IF;
  END IF;
  WHILE v_where IS NULL LOOP
    -- The head's row lock is held until commit: one writer per tenant at a time appends;
    -- the next one waits here, and sees this one's head once it has committed.
    UPDATE public.audit_heads x
       SET seq = x.seq + 1,
           at = greatest(v_now, x.at),
           hash = pg_catalog.sha256(x.hash || convert_to(app.audit_content(
                    x.seq + 1, p_tenant::text, greatest(v_now, x.at), v_type, v_actor,
                    v_request, p_action, p_table, p_row_id, p_old, p_new), 'UTF8'))
     WHERE x.tenant_id = p_tenant AND NOT x.closed
    RETURNING x.seq, x.at, x.hash, x.ctid INTO h;
    IF FOUND THEN
      v_where := h.ctid;
    ELSIF EXISTS (SELECT 1 FROM public.audit_heads WHERE tenant_id = p_tenant) THEN
      -- Closed: the tenant is being purged, and its rows go without entries.
      RETURN;
    ELSE
      INSERT INTO public.audit_heads (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
    END IF;
  END LOOP;
  PERFORM set_config(v_name, h.ctid::text, true);
  INSERT INTO public.audit_log (tenant_id, seq, occurred_at, actor_type, actor_id, request_id,
                                action, table_name, row_id, old_values, new_values, hash)
  VALUES (p_tenant, h.seq, h.at, v_type, v_actor, v_request, p_action, p_table, p_row_id,
          p_old, p_new, h.hash);
END $$;

-- Appends one entry to the platform chain (see app.audit_append).
CREATE FUNCTION app.audit_append_platform(p_action text, p_table text, p_row_id text,
                                          p_old jsonb, p_new jsonb) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  v_user uuid := NULLIF(current_setting('app.user_id', true), '')::uuid;
  v_request uuid := NULLIF(current_setting('app.request_id', true), '')::uuid;
  v_type text := CASE WHEN v_user IS NOT NULL THEN 'user' END;
  h record;
BEGIN
  UPDATE public.platform_audit_head x
     SET seq = x.seq + 1,
         at = greatest(c.now, x.at),
         hash = pg_catalog.sha256(x.hash || convert_to(app.audit_content(
                  x.seq + 1, 'platform', greatest(c.now, x.at), v_type, v_user, v_request,
                  p_action, p_table, p_row_id, p_old, p_new) || E'\n' || session_user, 'UTF8'))
    FROM (SELECT clock_timestamp() AS now) c
   WHERE x.id
  RETURNING x.seq, x.at, x.hash INTO h;
  INSERT INTO public.platform_audit_log (seq, occurred_at, actor_type, actor_id, request_id,
                                         action, table_name, row_id, old_values, new_values,
                                         hash, db_role)
  VALUES (h.seq, h.at, v_type, v_user, v_request, p_action, p_table, p_row_id, p_old, p_new,
          h.hash, session_user);
END $$;

-- The row trigger of tenant tables. Arguments (written by app.audit_table): the primary
-- key's columns after tenant_id (comma-separated), the ignored columns (comma-separated),
-- then the secret columns.
CREATE FUNCTION app.audit_row() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  keys text[] := string_to_array(TG_ARGV[0], ',');
  row_id text;
  c record;
BEGIN
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
  PERFORM app.audit_append((r ->> 'tenant_id')::uuid, lower(TG_OP), TG_TABLE_NAME, row_id,
                           c.old_values, c.new_values);
  RETURN NULL;
END $$;

-- The row trigger of platform tables (tenants, users); same arguments as app.audit_row.
-- A change to a tenant's row (its settings, by its administrators; its status or plan, by
-- the platform) is also an entry of that tenant's own chain.
CREATE FUNCTION app.audit_platform_row() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  r jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
  c record;
BEGIN
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

-- Attaches the audit trigger to table `t` (a tenant table, unless `platform`). Columns
-- whose names say they hold a secret (hash, secret, sealed, password) are secret whatever
-- the caller says; `secrets` adds others, or column.key paths into a jsonb column.
-- Every migration that creates a tenant table calls it: SELECT app.audit_table('t');
CREATE FUNCTION app.audit_table(t regclass, secrets text[] DEFAULT '{}', platform boolean DEFAULT false)
  RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  keys text;
  ignored text;
  all_secrets text[];
BEGIN
  SELECT string_agg(a.attname, ',' ORDER BY array_position(i.indkey::int2[], a.attnum))
    INTO keys
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
   WHERE i.indrelid = t AND i.indisprimary AND a.attname <> 'tenant_id';
  IF keys IS NULL THEN
    RAISE EXCEPTION 'audit: % has no primary key beside tenant_id', t;
  END IF;
  SELECT coalesce(string_agg(attname, ','), '') INTO ignored
    FROM pg_attribute WHERE attrelid = t AND attnum > 0 AND NOT attisdropped AND attgenerated <> '';
  SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}') INTO all_secrets FROM (
    SELECT unnest(secrets) AS s
    UNION
    SELECT attname FROM pg_attribute
     WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
       AND attname ~ '(hash|secret|sealed|password)') x;
  EXECUTE format('DROP TRIGGER IF EXISTS audit ON %s', t);
  EXECUTE format('CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                 'EXECUTE FUNCTION %s(%s)', t,
                 CASE WHEN platform THEN 'app.audit_platform_row' ELSE 'app.audit_row' END,
                 array_to_string(ARRAY(SELECT quote_literal(v)
                                         FROM unnest(ARRAY[keys, ignored] || all_secrets) v), ', '));
END $$;

-- The functions that write audit rows belong to tenantry_audit, and nobody else may run
-- them (a trigger function cannot be called directly; attaching one needs EXECUTE).
ALTER FUNCTION app.audit_append(uuid, text, text, text, jsonb, jsonb) OWNER TO tenantry_audit;
ALTER FUNCTION app.audit_append_platform(text, text, text, jsonb, jsonb) OWNER TO tenantry_audit;
ALTER FUNCTION app.audit_row() OWNER TO tenantry_audit;
ALTER FUNCTION app.audit_platform_row() OWNER TO tenantry_audit;
REVOKE ALL ON FUNCTION app.audit_append(uuid, text, text, text, jsonb, jsonb),
                       app.audit_append_platform(text, text, text, jsonb, jsonb),
                       app.audit_row(), app.audit_platform_row(),
                       app.audit_table(regclass, text[], boolean), app.audit_append_only(),
                       app.audit_changes(jsonb, jsonb, text[], text[]),
                       app.audit_content(bigint, text, timestamptz, text, uuid, uuid, text, text, text, jsonb, jsonb),
                       app.audit_genesis()
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.audit_changes(jsonb, jsonb, text[], text[]),
                          app.audit_content(bigint, text, timestamptz, text, uuid, uuid, text, text, text, jsonb, jsonb),
                          app.audit_genesis()
  TO tenantry_audit;

-- Every tenant table there is now (found in the catalog, as purge finds them), and the
-- platform tables.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    SELECT c.oid::regclass FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
       AND c.relname NOT IN ('audit_log', 'audit_heads')
  LOOP
    PERFORM app.audit_table(t);
  END LOOP;
END $$;
SELECT app.audit_table('tenants', '{settings.webhook_secret_sealed}', true);
SELECT app.audit_table('users', '{}', true);
