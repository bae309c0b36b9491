-- The CRM's conversations with contacts, and their messages.

-- GIN indexes that lead with tenant_id need btree_gin (a trusted contrib extension).
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- A time-ordered (v7) uuid for set-based SQL (PostgreSQL 15 has no uuidv7()): the
-- timestamp's milliseconds, then 74 bits from md5(seed), so seeded data is deterministic.
CREATE FUNCTION app.uuid_v7(ts timestamptz, seed text) RETURNS uuid
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT encode(
    set_bit(set_bit(set_bit(set_bit(set_bit(set_bit(
      overlay(decode(md5(seed), 'hex')
              PLACING substring(int8send(floor(extract(epoch FROM ts) * 1000)::bigint) FROM 3)
              FROM 1 FOR 6),
      55, 0), 54, 1), 53, 1), 52, 1),   -- version 7
      71, 1), 70, 0),                   -- variant 10
    'hex')::uuid
$$;

CREATE TABLE conversations (
  tenant_id        uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id               uuid NOT NULL,
  contact_id       uuid NOT NULL,
  subject          text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 300),
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
  channel          text NOT NULL CHECK (channel IN ('email', 'chat', 'sms')),
  assignee_id      uuid,
  last_message_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
  -- The assignee is a member of the same tenant; removing the member unassigns.
  FOREIGN KEY (tenant_id, assignee_id) REFERENCES memberships (tenant_id, user_id)
    ON DELETE SET NULL (assignee_id)
);
-- Contact.conversations (newest first).
CREATE INDEX conversations_contact_idx ON conversations (tenant_id, contact_id, created_at DESC, id DESC);
-- conversations(filter:) lists, newest first, narrowed by status, assignee or channel.
CREATE INDEX conversations_created_idx ON conversations (tenant_id, created_at DESC, id DESC);
CREATE INDEX conversations_status_idx ON conversations (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX conversations_assignee_idx ON conversations (tenant_id, assignee_id, created_at DESC, id DESC);

ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON conversations
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON conversations TO tenantry_app;

CREATE TABLE messages (
  tenant_id        uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id               uuid NOT NULL,
  conversation_id  uuid NOT NULL,
  direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  author_id        uuid,
  body             text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 20000),
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- Full-text search over bodies ('simple' keeps every word, in any language).
  body_tsv         tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, author_id) REFERENCES memberships (tenant_id, user_id)
    ON DELETE SET NULL (author_id)
);
-- Conversation.messages, newest first (and the 3 newest per conversation of the feed).
CREATE INDEX messages_conversation_idx ON messages (tenant_id, conversation_id, created_at DESC, id DESC);
-- searchMessages: tenant-led GIN over the tsvector.
CREATE INDEX messages_search_idx ON messages USING gin (tenant_id, body_tsv);

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
-- Messages are a record: the runtime role may add and read them, not rewrite them.
GRANT SELECT, INSERT ON messages TO tenantry_app;
