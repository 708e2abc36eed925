-- Safe by default: an app that no access policy or role assignment names by itself sends as no mailbox (rule
-- `unscoped_app`), unless an admin marks it `unrestricted` (docs/policy-model.md, "Upgrading").
--
-- Existing apps keep what they have: an app its own policy or assignment scopes decides as before, and an app that
-- nothing scopes is refused from now on until it is scoped or marked unrestricted. Nothing here marks an app
-- unrestricted: that is an admin's choice, never a migration's.

-- The change trail (change_events) names this migration as the writer of the rows it changes.
SELECT set_config('mailgate.actor', 'migration 20261208000001_unscoped_apps', true);

-- An admin's explicit choice that the app sends as every mailbox its access policies do not exclude (Exchange's
-- behaviour for an app holding the tenant-wide Mail.Send grant with no policy of its own).
ALTER TABLE apps ADD COLUMN unrestricted boolean NOT NULL DEFAULT false;

-- The tenant-wide Entra Mail.Send grant is a fact about an app's Entra identity: never assumed (it used to default to
-- true), and never held by an app without one. For an app with only API keys the old default stood for nothing that
-- Entra granted.
ALTER TABLE apps ALTER COLUMN entra_mail_send SET DEFAULT false;
UPDATE apps SET entra_mail_send = false WHERE entra_mail_send AND entra_app_id IS NULL AND entra_object_id IS NULL;
ALTER TABLE apps ADD CONSTRAINT apps_entra_grant_needs_entra_identity
    CHECK (NOT entra_mail_send OR entra_app_id IS NOT NULL OR entra_object_id IS NOT NULL);
