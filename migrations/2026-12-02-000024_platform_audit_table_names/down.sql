-- The function as 000022 made it.
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
