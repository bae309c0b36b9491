-- Membership by consent (issue 16): invitations the invitee accepts, the tenant a login
-- uses by default, and login limits kept in the database.

-- An invitation to join a tenant. Only a SHA-256 hash of its token is stored; the token is
-- shown once to the inviter, who hands it to the invitee. It is single-use: accepting,
-- declining or revoking it ends it. Only acceptance creates the membership.
CREATE TABLE invitations (
  tenant_id    uuid NOT NULL DEFAULT app.current_tenant_id() REFERENCES tenants (id),
  id           uuid NOT NULL,
  email        text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  role         text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
  token_hash   text NOT NULL,
  invited_by   uuid NOT NULL REFERENCES users (id),
  expires_at   timestamptz NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  accepted_at  timestamptz,
  accepted_by  uuid REFERENCES users (id),
  declined_at  timestamptz,
  revoked_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX invitations_hash_idx ON invitations (tenant_id, token_hash);
-- One pending invitation per address and tenant: inviting again replaces the old one.
CREATE UNIQUE INDEX invitations_pending_email_key ON invitations (tenant_id, lower(email))
  WHERE accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL;
-- "Which invitations await this address?" (myInvitations) is asked across tenants, by
-- address: the one index that does not lead with tenant_id, for that one question.
CREATE INDEX invitations_email_idx ON invitations (lower(email), tenant_id)
  WHERE accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL;
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
  USING (tenant_id = app.current_tenant_id())
  WITH CHECK (tenant_id = app.current_tenant_id());
-- Admins invite, list and revoke inside their tenant; the invitee accepts or declines in a
-- transaction scoped to the invitation's tenant. Nothing is ever deleted or re-addressed.
GRANT SELECT, INSERT ON invitations TO tenantry_app;
GRANT UPDATE (accepted_at, accepted_by, declined_at, revoked_at) ON invitations TO tenantry_app;
-- The auth path lists a signed-in user's invitations across tenants (myInvitations): only
-- those addressed to that user's own email (`app.user_id` is set by that transaction).
CREATE POLICY auth_invitee ON invitations FOR SELECT TO tenantry_auth
  USING (lower(email) = (SELECT lower(u.email) FROM users u WHERE u.id = app.current_user_id()));
GRANT SELECT ON invitations TO tenantry_auth;

-- Adding members now goes through invitations: the runtime role no longer finds users
-- outside its tenant by email (which told whether an address has an account) nor creates
-- password-less users.
REVOKE EXECUTE ON FUNCTION app.user_id_by_email(text) FROM tenantry_app;
REVOKE EXECUTE ON FUNCTION app.invite_user(text) FROM tenantry_app;

-- The tenant a login without one uses: the one the user last signed in to or switched to,
-- never one chosen by somebody else. Written by the auth path for the signed-in user only,
-- and only a tenant that user belongs to.
ALTER TABLE users ADD COLUMN last_tenant_id uuid REFERENCES tenants (id) ON DELETE SET NULL;
GRANT UPDATE (last_tenant_id) ON users TO tenantry_auth;
CREATE POLICY auth_last_tenant ON users FOR UPDATE TO tenantry_auth
  USING (id = app.current_user_id())
  WITH CHECK (id = app.current_user_id()
              AND (last_tenant_id IS NULL
                   OR EXISTS (SELECT 1 FROM memberships m
                               WHERE m.tenant_id = users.last_tenant_id AND m.user_id = users.id)));

-- Failed logins, one row each, shared by every server process: the per-address limit and
-- the per-account growing delay count them over a sliding window. Not tenant data (a
-- login has no tenant yet): only the auth path reads and writes it. `account` is the
-- SHA-256 of the lower-cased email, so mistyped addresses (or passwords typed into the
-- email field) are not kept in the clear.
CREATE TABLE login_failures (
  id         uuid PRIMARY KEY,
  account    text NOT NULL,
  address    text NOT NULL,
  failed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_account_idx ON login_failures (account, failed_at);
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at);
CREATE INDEX login_failures_failed_at_idx ON login_failures (failed_at);
GRANT SELECT, INSERT, DELETE ON login_failures TO tenantry_auth;
