-- Trusted documents (persisted queries an operator vouches for): GraphQL documents stored
-- by the SHA-256 of their exact text, managed with `tenantry documents`. Platform data, not
-- tenant data: no runtime role reads it; each server process loads the list into memory
-- and reloads it when the `tenantry_documents` channel announces a change.
CREATE TABLE trusted_documents (
  hash text PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
  body text NOT NULL,
  name text,
  added_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION app.notify_documents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenantry_documents', '');
  RETURN NULL;
END $$;

CREATE TRIGGER trusted_documents_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
  ON trusted_documents FOR EACH STATEMENT EXECUTE FUNCTION app.notify_documents();
REVOKE ALL ON FUNCTION app.notify_documents() FROM PUBLIC;
