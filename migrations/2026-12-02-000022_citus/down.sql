-- On one server: the policies as they were. On Citus this is refused: undoing distribution
-- (undistribute_table, the SET NULL keys, the runtime roles' LOGIN) is the operator's work.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
    RAISE EXCEPTION 'migration 000022 cannot be reverted on Citus: undistribute the tables first (undistribute_table)';
  END IF;
END $$;
DROP FUNCTION app.distribute_tenant_table(regclass);
CREATE OR REPLACE FUNCTION app.audit_platform_row() RETURNS trigger
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
CREATE OR REPLACE FUNCTION app.notify_tenancy() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenantry_tenancy',
                    coalesce(to_jsonb(NEW), to_jsonb(OLD)) ->> TG_ARGV[0]);
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION app.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  change text;
BEGIN
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
DROP FUNCTION app.is_coordinator();
ALTER POLICY user_visibility ON users
  USING (id = app.current_user_id()
         OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id));
ALTER POLICY auth_last_tenant ON users
  USING (id = app.current_user_id())
  WITH CHECK (id = app.current_user_id()
              AND (last_tenant_id IS NULL
                   OR EXISTS (SELECT 1 FROM memberships m
                               WHERE m.tenant_id = users.last_tenant_id AND m.user_id = users.id)));
ALTER POLICY auth_invitee ON invitations
  USING (lower(email) = (SELECT lower(u.email) FROM users u WHERE u.id = app.current_user_id()));
DROP FUNCTION app.current_user_email();
DROP FUNCTION app.shares_current_tenant(uuid);
DROP FUNCTION app.is_member(uuid, uuid);
DROP FUNCTION app.null_references();
