DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT tgrelid::regclass FROM pg_trigger WHERE tgname = 'audit'
             AND tgfoid IN ('app.audit_row()'::regprocedure, 'app.audit_platform_row()'::regprocedure)
  LOOP
    EXECUTE format('DROP TRIGGER audit ON %s', t);
  END LOOP;
END $$;
DROP TABLE audit_log, audit_heads, platform_audit_log, platform_audit_head;
DROP FUNCTION app.audit_table(regclass, text[], boolean);
DROP FUNCTION app.audit_platform_row();
DROP FUNCTION app.audit_row();
DROP FUNCTION app.audit_append_platform(text, text, text, jsonb, jsonb);
DROP FUNCTION app.audit_append(uuid, text, text, text, jsonb, jsonb);
DROP FUNCTION app.audit_changes(jsonb, jsonb, text[], text[]);
DROP FUNCTION app.audit_append_only();
DROP FUNCTION app.audit_content(bigint, text, timestamptz, text, uuid, uuid, text, text, text, jsonb, jsonb);
DROP FUNCTION app.audit_genesis();
REVOKE ALL ON SCHEMA app, public FROM tenantry_audit;
REVOKE EXECUTE ON FUNCTION app.current_tenant_id() FROM tenantry_audit;
