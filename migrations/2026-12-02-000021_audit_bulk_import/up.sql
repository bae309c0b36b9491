-- Bulk loads by operators (`tenantry tenant import`, clone) are audited per table, not per
-- row: one entry per table loaded, naming the row count and the archive's checksum, in the
-- new tenant's chain. A per-row entry cost about 0.3 ms, which made importing a large
-- tenant take minutes, and a restored tenant's rows are the archive's, already recorded in
-- the source's own chain.
--
-- The switch `app.audit_bulk = 'on'` is honoured only outside the runtime roles: the
-- server's request path always runs under `SET LOCAL ROLE tenantry_app`/`tenantry_auth`,
-- whose row changes are audited one by one whatever they set. The `role` setting is read
-- (not current_user, which is tenantry_audit inside these SECURITY DEFINER functions).

-- app.audit_row as migration 000016 made it, with the switch checked first (before the row
-- is turned into jsonb, which is most of its cost).
CREATE OR REPLACE FUNCTION app.audit_row() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER AS $$
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
  PERFORM app.audit_append((r ->> 'tenant_id')::uuid, lower(TG_OP), TG_TABLE_NAME, row_id,
                           c.old_values, c.new_values);
  RETURN NULL;
END $$;

-- The entry of one bulk-loaded table in the current tenant's chain: action insert, row id
-- "*", new values {"bulk_rows": rows} plus `details` (the archive's checksum and origin).
-- Only under the switch and outside the runtime roles, like the skip above; callable by
-- the role that ran the migrations (the operator's), by nobody else.
CREATE FUNCTION app.audit_bulk_load(p_table text, p_rows bigint, details jsonb)
  RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF current_setting('app.audit_bulk', true) IS DISTINCT FROM 'on'
     OR current_setting('role') IN ('tenantry_app', 'tenantry_auth') THEN
    RAISE EXCEPTION 'audit_bulk_load is for operators'' bulk loads under app.audit_bulk'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM app.audit_append(app.current_tenant_id(), 'insert', p_table, '*', NULL,
                           jsonb_build_object('bulk_rows', p_rows) || coalesce(details, '{}'));
END $$;
ALTER FUNCTION app.audit_bulk_load(text, bigint, jsonb) OWNER TO tenantry_audit;
REVOKE ALL ON FUNCTION app.audit_bulk_load(text, bigint, jsonb) FROM PUBLIC;
DO $$
BEGIN
  EXECUTE format('GRANT EXECUTE ON FUNCTION app.audit_bulk_load(text, bigint, jsonb) TO %I',
                 current_user);
END $$;
