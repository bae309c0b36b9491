DROP TABLE messages;
DROP TABLE conversations;
DROP FUNCTION app.uuid_v7(timestamptz, text);
-- btree_gin may serve other objects of the database; drop it only if nothing depends on it.
DO $$
BEGIN
  DROP EXTENSION IF EXISTS btree_gin;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'btree_gin still in use; kept';
END $$;
