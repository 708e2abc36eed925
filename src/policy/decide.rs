//! The combined decision for one (app, mailbox), as Exchange makes it:
//! RBAC for Applications grants add to the tenant-wide Entra Mail.Send grant, and Application Access Policies
//! constrain only the Entra grant. So: granted when a sending role assignment covers the mailbox; otherwise, when
//! the app holds the grant, the access policies decide; otherwise denied. One rule is mailgate's own: an app that
//! nothing of its own scopes sends as no mailbox unless an admin marked it unrestricted (`scoping`).
//! Sources: docs/policy-model.md.

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{Policy, RoleAssignment, Snapshot};
use super::scoping::{AppScope, Grant, unscoped_reason};
use super::{access_policy, exchange_rbac};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Access {
    Granted,
    Denied,
}

/// Which step of the evaluation decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A role assignment with a sending role covers the mailbox.
    RbacAssignment,
    DenyAccessInScope,
    RestrictAccessInScope,
    RestrictAccessNotInScope,
    /// No access policy constrains the app's Entra grant.
    NoPolicy,
    /// Neither an Entra grant nor a covering role assignment.
    NoGrant,
    /// No access policy or role assignment names the app by itself, and no admin marked it unrestricted.
    UnscopedApp,
    /// Exchange refused this pair recently although the mirror allowed it; denied locally for a while.
    DriftCooldown,
    /// The directory lists mailboxes and this name is none of theirs (`MAILGATE_ALLOW_UNKNOWN_MAILBOXES` is off).
    UnknownMailbox,
}

impl Rule {
    /// The name the API shows (`serde`'s), for spans and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RbacAssignment => "rbac_assignment",
            Rule::DenyAccessInScope => "deny_access_in_scope",
            Rule::RestrictAccessInScope => "restrict_access_in_scope",
            Rule::RestrictAccessNotInScope => "restrict_access_not_in_scope",
            Rule::NoPolicy => "no_policy",
            Rule::NoGrant => "no_grant",
            Rule::UnscopedApp => "unscoped_app",
            Rule::DriftCooldown => "drift_cooldown",
            Rule::UnknownMailbox => "unknown_mailbox",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsideredKind {
    AccessPolicy,
    RoleAssignment,
    /// What names the app by itself, or that it is marked unrestricted.
    AppScope,
    EntraGrant,
    Cooldown,
}

/// One policy, assignment or grant that was looked at, and what it said about this pair.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Consideration {
    pub kind: ConsideredKind,
    pub id: Option<Uuid>,
    pub name: String,
    /// Whether it applies to this mailbox (a policy's scope holds it; an assignment grants it; the app holds the grant).
    pub matched: bool,
    pub why: String,
}

impl Consideration {
    pub fn policy(p: &Policy, scope: &str, inside: bool) -> Self {
        let place = if inside { "holds" } else { "does not hold" };
        Consideration {
            kind: ConsideredKind::AccessPolicy,
            id: Some(p.id),
            name: format!("{} on {scope}", p.access_right),
            matched: inside,
            why: format!("its scope {scope} {place} the mailbox"),
        }
    }

    pub fn assignment(a: &RoleAssignment, grants: bool, why: String) -> Self {
        Consideration {
            kind: ConsideredKind::RoleAssignment,
            id: Some(a.id),
            name: a.name.clone(),
            matched: grants,
            why,
        }
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub access: Access,
    /// The mailbox decided on: the primary address of the mailbox the name resolved to (or the name itself,
    /// lower-cased, when the directory does not know it). Limits, audit rows and the Graph call use it.
    pub mailbox: String,
    pub rule: Rule,
    /// The deciding access policy; for `restrict_access_not_in_scope`, the first of the app's RestrictAccess policies.
    pub policy_id: Option<Uuid>,
    /// The deciding role assignment.
    pub assignment_id: Option<Uuid>,
    pub scope_group: Option<String>,
    /// The decision in words.
    pub reason: String,
    /// Everything looked at, in order: cooldown, role assignments, the app's own scope, the grant, access policies.
    pub considered: Vec<Consideration>,
}

pub fn decide(snapshot: &Snapshot, app: Uuid, app_name: &str, mailbox: &str) -> Decision {
    decide_at(snapshot, app, app_name, mailbox, OffsetDateTime::now_utc())
}

pub fn decide_at(snapshot: &Snapshot, app: Uuid, app_name: &str, name: &str, now: OffsetDateTime) -> Decision {
    let who = snapshot.directory.identify(name);
    let mailbox = who.canonical.clone();
    let mut considered = Vec::new();
    let decision = |access, rule, reason: String, considered| Decision {
        access,
        rule,
        mailbox: mailbox.clone(),
        policy_id: None,
        assignment_id: None,
        scope_group: None,
        reason,
        considered,
    };

    if !who.is_known() && snapshot.directory.has_recipients() && !snapshot.allow_unknown_mailboxes {
        let reason = format!(
            "{name} is not a name of any mailbox in the directory (primary or proxy address, user principal name \
             or object id); import the recipient, or set MAILGATE_ALLOW_UNKNOWN_MAILBOXES=true"
        );
        return decision(Access::Denied, Rule::UnknownMailbox, reason, considered);
    }

    if let Some((until, why)) =
        who.names.iter().find_map(|k| snapshot.cooldowns.get(&(app, k.clone()))).filter(|(u, _)| *u > now)
    {
        considered.push(Consideration {
            kind: ConsideredKind::Cooldown,
            id: None,
            name: "drift cool-down".into(),
            matched: true,
            why: why.clone(),
        });
        let reason =
            format!("Exchange recently refused app {app_name} for {mailbox} ({why}); denied locally until {until}");
        return decision(Access::Denied, Rule::DriftCooldown, reason, considered);
    }

    let grants = snapshot.apps.get(&app).cloned().unwrap_or_default();
    let assignments = exchange_rbac::evaluate(snapshot, grants.entra_app_id, &who);
    let granting = assignments.iter().find(|(_, _, g)| *g).map(|(a, _, _)| a.clone());
    let scope = AppScope::of(snapshot, app, assignments.iter().map(|(a, _, _)| a));
    considered.extend(assignments.into_iter().map(|(_, c, _)| c));
    if let Some(a) = granting {
        let reason = format!("role assignment {} ({}) lets app {app_name} send as {mailbox}", a.name, a.role);
        let mut d = decision(Access::Granted, Rule::RbacAssignment, reason, considered);
        d.assignment_id = Some(a.id);
        return d;
    }

    considered.push(scope.consideration(app_name, grants.unrestricted));
    if !scope.is_scoped() && !grants.unrestricted {
        return decision(Access::Denied, Rule::UnscopedApp, unscoped_reason(app_name), considered);
    }

    let grant = Grant::of(&grants);
    considered.push(grant.consideration(app_name));
    if !grant.is_held() {
        let reason = format!(
            "app {app_name} holds no tenant-wide Mail.Send grant, and no role assignment lets it send as {mailbox}; \
             access policies constrain only that grant, as in Exchange. If Entra grants it to the app, record it \
             (`entra_mail_send`, or an import with EntraMailSendGrants); else let a role assignment cover {mailbox}"
        );
        return decision(Access::Denied, Rule::NoGrant, reason, considered);
    }
    let v = access_policy::evaluate(snapshot, app, app_name, &who);
    // Granted only because the name is in no DenyAccess scope: for a name the directory does not know, that proves
    // nothing, since it may be another name (an alias, the UPN, the object id) of a mailbox that is in one.
    let outside_deny_scopes = v.access == Access::Granted && v.rule == Rule::NoPolicy && !v.considered.is_empty();
    if !who.is_known() && outside_deny_scopes {
        considered.extend(v.considered);
        let reason = format!(
            "a DenyAccess policy applies to app {app_name}, and {name} is not a name of any mailbox in the directory, \
             so mailgate cannot tell whether it names a mailbox in that policy's scope; import the directory \
             (with every mailbox's proxy addresses and user principal name) to send as it"
        );
        return decision(Access::Denied, Rule::UnknownMailbox, reason, considered);
    }
    considered.extend(v.considered);
    let mut d = decision(v.access, v.rule, v.reason, considered);
    d.policy_id = v.policy;
    d.scope_group = v.scope;
    d
}
