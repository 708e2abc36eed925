//! Decides one (app, mailbox) pair exactly as Exchange documents for Application Access Policies:
//! 1. DenyAccess wins over RestrictAccess;
//! 2. a DenyAccess policy whose scope holds the mailbox denies;
//! 3. a RestrictAccess policy whose scope holds the mailbox grants;
//! 4. an app with any RestrictAccess policy is denied every mailbox outside them;
//! 5. otherwise the tenant-wide Graph grant applies: granted.

use serde::Serialize;
use uuid::Uuid;

use super::model::{AccessRight, Policy, Snapshot};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Access {
    Granted,
    Denied,
}

/// Which step of the evaluation order decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    DenyAccessInScope,
    RestrictAccessInScope,
    RestrictAccessNotInScope,
    NoPolicy,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub access: Access,
    pub rule: Rule,
    /// The deciding policy; for `restrict_access_not_in_scope`, the first of the app's RestrictAccess policies.
    pub policy_id: Option<Uuid>,
    pub scope_group: Option<String>,
    /// The decision in words.
    pub reason: String,
}

pub fn decide(snapshot: &Snapshot, app: Uuid, app_name: &str, mailbox: &str) -> Decision {
    let dir = &snapshot.directory;
    let applicable: Vec<&Policy> = snapshot.policies.iter().filter(|p| p.apps.includes(app)).collect();
    let in_scope = |p: &&&Policy| dir.contains(p.scope_group, mailbox);
    let of_right = |right: AccessRight| applicable.iter().filter(move |p| p.access_right == right);

    let decision = |access, rule, policy: Option<&Policy>, reason: String| Decision {
        access,
        rule,
        policy_id: policy.map(|p| p.id),
        scope_group: policy.map(|p| dir.address(p.scope_group).to_owned()),
        reason,
    };

    if let Some(p) = of_right(AccessRight::DenyAccess).find(in_scope) {
        let reason = format!(
            "DenyAccess policy {} denies app {app_name} every mailbox in {}, and {mailbox} is in it",
            p.id,
            dir.address(p.scope_group)
        );
        return decision(Access::Denied, Rule::DenyAccessInScope, Some(p), reason);
    }
    if let Some(p) = of_right(AccessRight::RestrictAccess).find(in_scope) {
        let reason = format!(
            "RestrictAccess policy {} allows app {app_name} the mailboxes in {}, and {mailbox} is in it",
            p.id,
            dir.address(p.scope_group)
        );
        return decision(Access::Granted, Rule::RestrictAccessInScope, Some(p), reason);
    }
    let restricting: Vec<&&Policy> = of_right(AccessRight::RestrictAccess).collect();
    if let Some(first) = restricting.first() {
        let scopes: Vec<&str> = restricting.iter().map(|p| dir.address(p.scope_group)).collect();
        let reason = format!(
            "app {app_name} is restricted by RestrictAccess to the mailboxes in {}, and {mailbox} is in none of them",
            scopes.join(", ")
        );
        return decision(Access::Denied, Rule::RestrictAccessNotInScope, Some(first), reason);
    }
    let reason = if applicable.is_empty() {
        format!("no access policy applies to app {app_name}, so its tenant-wide Mail.Send grant applies")
    } else {
        format!("app {app_name} has only DenyAccess policies and {mailbox} is in none of their scopes")
    };
    decision(Access::Granted, Rule::NoPolicy, None, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::{AppSelector, Directory, Group};

    const APP: Uuid = Uuid::from_u128(1);
    const OTHER_APP: Uuid = Uuid::from_u128(2);
    const G_NOTIFY: Uuid = Uuid::from_u128(10);
    const G_EXEC: Uuid = Uuid::from_u128(11);
    const G_OUTER: Uuid = Uuid::from_u128(12);

    fn directory() -> Directory {
        let group = |address: &str, mailboxes: &[&str], subgroups: Vec<Uuid>| Group {
            address: address.into(),
            mailboxes: mailboxes.iter().map(|m| (*m).to_owned()).collect(),
            subgroups,
        };
        let mut d = Directory::default();
        d.groups.insert(G_NOTIFY, group("scope@contoso.test", &["notify@contoso.test"], vec![]));
        d.groups.insert(G_EXEC, group("exec@contoso.test", &["ceo@contoso.test"], vec![]));
        // Outer holds exec by nesting, and points back at itself through exec's sibling to prove cycles end.
        d.groups.insert(G_OUTER, group("outer@contoso.test", &[], vec![G_EXEC, G_OUTER]));
        d
    }

    fn policy(n: u128, apps: AppSelector, scope: Uuid, right: AccessRight) -> Policy {
        Policy {
            id: Uuid::from_u128(100 + n),
            apps,
            scope_group: scope,
            access_right: right,
            description: String::new(),
        }
    }

    fn run(policies: Vec<Policy>, mailbox: &str) -> Decision {
        decide(&Snapshot { policies, directory: directory() }, APP, "app", mailbox)
    }

    use AccessRight::{DenyAccess as Deny, RestrictAccess as Restrict};
    fn app() -> AppSelector {
        AppSelector::Apps(vec![APP])
    }

    #[test]
    fn rule_5_no_policy_grants() {
        let d = run(vec![], "anyone@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::NoPolicy));
        // A policy for another app does not apply.
        let d = run(vec![policy(1, AppSelector::Apps(vec![OTHER_APP]), G_NOTIFY, Restrict)], "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::NoPolicy));
    }

    #[test]
    fn rule_3_restrict_grants_inside_scope() {
        let d = run(vec![policy(1, app(), G_NOTIFY, Restrict)], "notify@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::RestrictAccessInScope));
        assert_eq!(d.policy_id, Some(Uuid::from_u128(101)));
        assert_eq!(d.scope_group.as_deref(), Some("scope@contoso.test"));
    }

    #[test]
    fn rule_4_restrict_denies_outside_every_scope() {
        let d = run(vec![policy(1, app(), G_NOTIFY, Restrict)], "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Denied, Rule::RestrictAccessNotInScope));
        assert!(d.reason.contains("scope@contoso.test"), "{}", d.reason);
        // Two RestrictAccess policies: inside either grants.
        let two = || vec![policy(1, app(), G_NOTIFY, Restrict), policy(2, app(), G_EXEC, Restrict)];
        assert_eq!(run(two(), "ceo@contoso.test").access, Access::Granted);
        assert_eq!(run(two(), "other@contoso.test").rule, Rule::RestrictAccessNotInScope);
    }

    #[test]
    fn rule_2_deny_denies_inside_scope_and_grants_outside() {
        let deny = || vec![policy(1, app(), G_EXEC, Deny)];
        let d = run(deny(), "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Denied, Rule::DenyAccessInScope));
        let d = run(deny(), "notify@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::NoPolicy));
    }

    #[test]
    fn rule_1_deny_wins_over_restrict_for_the_same_mailbox() {
        let d = run(vec![policy(1, app(), G_EXEC, Restrict), policy(2, app(), G_EXEC, Deny)], "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Denied, Rule::DenyAccessInScope));
        assert_eq!(d.policy_id, Some(Uuid::from_u128(102)));
    }

    #[test]
    fn deny_elsewhere_does_not_lift_a_restriction() {
        // Restrict to notify, deny exec: a third mailbox is still outside the restriction.
        let ps = || vec![policy(1, app(), G_NOTIFY, Restrict), policy(2, app(), G_EXEC, Deny)];
        assert_eq!(run(ps(), "third@contoso.test").rule, Rule::RestrictAccessNotInScope);
        assert_eq!(run(ps(), "notify@contoso.test").access, Access::Granted);
        assert_eq!(run(ps(), "ceo@contoso.test").rule, Rule::DenyAccessInScope);
    }

    #[test]
    fn star_policies_apply_to_every_app() {
        let d = run(vec![policy(1, AppSelector::All, G_EXEC, Deny)], "ceo@contoso.test");
        assert_eq!(d.access, Access::Denied);
        let d = run(vec![policy(1, AppSelector::All, G_NOTIFY, Restrict)], "ceo@contoso.test");
        assert_eq!(d.rule, Rule::RestrictAccessNotInScope);
        // A star DenyAccess beats the app's own RestrictAccess on the same mailbox.
        let d = run(
            vec![policy(1, app(), G_EXEC, Restrict), policy(2, AppSelector::All, G_EXEC, Deny)],
            "ceo@contoso.test",
        );
        assert_eq!(d.rule, Rule::DenyAccessInScope);
    }

    #[test]
    fn nested_groups_count_and_cycles_end() {
        let d = run(vec![policy(1, app(), G_OUTER, Restrict)], "ceo@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::RestrictAccessInScope));
        let d = run(vec![policy(1, app(), G_OUTER, Deny)], "ceo@contoso.test");
        assert_eq!(d.access, Access::Denied);
        let d = run(vec![policy(1, app(), G_OUTER, Restrict)], "notify@contoso.test");
        assert_eq!(d.access, Access::Denied);
    }

    #[test]
    fn only_deny_policies_and_mailbox_outside_them_grants() {
        let d = run(vec![policy(1, app(), G_EXEC, Deny), policy(2, app(), G_NOTIFY, Deny)], "third@contoso.test");
        assert_eq!((d.access, d.rule), (Access::Granted, Rule::NoPolicy));
        assert!(d.reason.contains("only DenyAccess"), "{}", d.reason);
    }
}
