//! Exchange application access policy evaluation, as documented for
//! `New-ApplicationAccessPolicy` / `Test-ApplicationAccessPolicy`.

use super::types::{AccessRight, SimPolicy};

/// The `AccessCheckResult` of `Test-ApplicationAccessPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessCheck {
    Granted,
    Denied,
}

fn applies_to(policy: &SimPolicy, app_id: &str) -> bool {
    policy.app_id == "*" || policy.app_id.eq_ignore_ascii_case(app_id)
}

fn scope_contains(policy: &SimPolicy, mailbox: &str) -> bool {
    policy.scope.iter().any(|m| m.trim().eq_ignore_ascii_case(mailbox.trim()))
}

/// Decide whether `app_id` may reach `mailbox` under `policies`:
/// 1. a DenyAccess policy for the app whose scope holds the mailbox → Denied (deny wins);
/// 2. a RestrictAccess policy for the app whose scope holds the mailbox → Granted;
/// 3. the app has any RestrictAccess policy and the mailbox is in none → Denied;
/// 4. otherwise → Granted.
pub fn decide(policies: &[SimPolicy], app_id: &str, mailbox: &str) -> AccessCheck {
    let mine: Vec<&SimPolicy> = policies.iter().filter(|p| applies_to(p, app_id)).collect();
    let denied = mine.iter().any(|p| p.access_right == AccessRight::DenyAccess && scope_contains(p, mailbox));
    if denied {
        return AccessCheck::Denied;
    }
    let restricts: Vec<&&SimPolicy> = mine.iter().filter(|p| p.access_right == AccessRight::RestrictAccess).collect();
    if restricts.iter().any(|p| scope_contains(p, mailbox)) {
        return AccessCheck::Granted;
    }
    if !restricts.is_empty() {
        return AccessCheck::Denied;
    }
    AccessCheck::Granted
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "11111111-1111-1111-1111-111111111111";
    const OTHER: &str = "22222222-2222-2222-2222-222222222222";

    fn pol(app: &str, right: AccessRight, scope: &[&str]) -> SimPolicy {
        SimPolicy { app_id: app.to_string(), access_right: right, scope: scope.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn no_policies_grants() {
        assert_eq!(decide(&[], APP, "a@x.test"), AccessCheck::Granted);
    }

    #[test]
    fn restrict_grants_inside_denies_outside() {
        let p = [pol(APP, AccessRight::RestrictAccess, &["a@x.test"])];
        assert_eq!(decide(&p, APP, "A@X.test"), AccessCheck::Granted);
        assert_eq!(decide(&p, APP, "b@x.test"), AccessCheck::Denied);
        // Another app is not affected.
        assert_eq!(decide(&p, OTHER, "b@x.test"), AccessCheck::Granted);
    }

    #[test]
    fn deny_denies_inside_grants_outside() {
        let p = [pol(APP, AccessRight::DenyAccess, &["a@x.test"])];
        assert_eq!(decide(&p, APP, "a@x.test"), AccessCheck::Denied);
        assert_eq!(decide(&p, APP, "b@x.test"), AccessCheck::Granted);
    }

    #[test]
    fn deny_wins_over_restrict() {
        let p =
            [pol(APP, AccessRight::RestrictAccess, &["a@x.test"]), pol(APP, AccessRight::DenyAccess, &["a@x.test"])];
        assert_eq!(decide(&p, APP, "a@x.test"), AccessCheck::Denied);
    }

    #[test]
    fn any_restrict_scope_grants() {
        let p = [
            pol(APP, AccessRight::RestrictAccess, &["a@x.test"]),
            pol(APP, AccessRight::RestrictAccess, &["b@x.test"]),
        ];
        assert_eq!(decide(&p, APP, "b@x.test"), AccessCheck::Granted);
        assert_eq!(decide(&p, APP, "c@x.test"), AccessCheck::Denied);
    }

    #[test]
    fn wildcard_applies_to_every_app() {
        let p = [pol("*", AccessRight::RestrictAccess, &["a@x.test"])];
        assert_eq!(decide(&p, APP, "a@x.test"), AccessCheck::Granted);
        assert_eq!(decide(&p, OTHER, "b@x.test"), AccessCheck::Denied);
        let d = [pol("*", AccessRight::DenyAccess, &["a@x.test"])];
        assert_eq!(decide(&d, OTHER, "a@x.test"), AccessCheck::Denied);
        assert_eq!(decide(&d, OTHER, "b@x.test"), AccessCheck::Granted);
    }

    #[test]
    fn wildcard_deny_beats_app_restrict() {
        let p =
            [pol(APP, AccessRight::RestrictAccess, &["a@x.test"]), pol("*", AccessRight::DenyAccess, &["a@x.test"])];
        assert_eq!(decide(&p, APP, "a@x.test"), AccessCheck::Denied);
    }
}
