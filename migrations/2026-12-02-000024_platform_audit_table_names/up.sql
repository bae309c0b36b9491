-- The platform audit log names the table, not the shard (issue 15). On Citus the trigger of
-- a reference table fires on the coordinator's shard of it, whose name is the table's plus
-- `_<shard id>`; entries said `tenants_102008`, and `platformAuditLog(filter: {table:
-- "tenants"})` found none. As app.audit_row does for tenant tables (000022). On one server the
-- names carry no such suffix and nothing changes.
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
  PERFORM app.audit_append_platform(lower(TG_OP), regexp_replace(TG_TABLE_NAME, '_[0-9]+$', ''), r ->> TG_ARGV[0],
                                    c.old_values, c.new_values);
  -- (Not on Citus: there TG_TABLE_NAME is the shard's and this stays false. Appending to the
  -- tenant's chain from here would reach its audit shards as this function's owner inside a
  -- request transaction, and Citus replays the request's SET LOCAL ROLE on that connection,
  -- which the owner may not do. A known gap: README "Tenantry on Citus".)
  IF TG_TABLE_NAME = 'tenants' AND TG_OP = 'UPDATE' THEN
    PERFORM app.audit_append((r ->> 'id')::uuid, 'update', 'tenants', r ->> 'id',
                             c.old_values, c.new_values);
  END IF;
  RETURN NULL;
END $$;
