DROP INDEX memberships_user_idx;
