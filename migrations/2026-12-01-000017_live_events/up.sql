-- Live updates (GraphQL subscriptions): a change to a contact, conversation or message
-- is announced on the `tenantry_events` channel with a small payload — the tenant, the
-- table, the row id and the kind of change, never the row's contents. Each server process
-- listens once and reads the rows under the tenant's own row-level security before any
-- subscriber sees them. NOTIFY is sent at commit, so a rolled-back change announces nothing.
CREATE FUNCTION app.notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
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
REVOKE ALL ON FUNCTION app.notify_event() FROM PUBLIC;

CREATE TRIGGER contacts_notify_event AFTER INSERT OR UPDATE ON contacts
  FOR EACH ROW EXECUTE FUNCTION app.notify_event();
CREATE TRIGGER conversations_notify_event AFTER INSERT OR UPDATE ON conversations
  FOR EACH ROW EXECUTE FUNCTION app.notify_event();
CREATE TRIGGER messages_notify_event AFTER INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION app.notify_event();
