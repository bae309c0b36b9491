DROP FUNCTION app.audit_bulk_load(text, bigint, jsonb);

-- app.audit_row as migration 000016 made it.
CREATE OR REPLACE FUNCTION app.audit_row() RETURNS trigger
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
