DROP SCHEMA app CASCADE;
REVOKE ALL ON SCHEMA public FROM tenantry_app;
-- The role may still be used by other databases of the cluster; drop it only if it is free.
DO $$
BEGIN
  DROP ROLE IF EXISTS tenantry_app;
EXCEPTION WHEN dependent_objects_still_exist THEN
  RAISE NOTICE 'tenantry_app is still used by another database; kept';
END $$;
