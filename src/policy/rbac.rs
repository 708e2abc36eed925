//! RBAC for Applications: role assignments to an app's service principal, scoped by management scopes whose
//! recipient filters are evaluated against the directory.

use uuid::Uuid;

use super::decide::Consideration;
use super::directory::Identity;
use super::model::{RoleAssignment, SENDING_ROLES, Snapshot};
use super::opath::{MapRecipient, Property};

/// The assignments of the app's service principal(s), each with whether it lets the app send as the mailbox.
pub fn evaluate(
    snapshot: &Snapshot,
    entra_app_id: Option<Uuid>,
    who: &Identity,
) -> Vec<(RoleAssignment, Consideration, bool)> {
    let mailbox = &who.canonical;
    let Some(app_id) = entra_app_id else { return Vec::new() };
    let principals: Vec<Uuid> =
        snapshot.service_principals.iter().filter(|sp| sp.app_id == app_id).map(|sp| sp.id).collect();
    if principals.is_empty() {
        return Vec::new();
    }
    let target = filter_view(snapshot, who);
    snapshot
        .assignments
        .iter()
        .filter(|a| principals.contains(&a.service_principal))
        .map(|a| {
            let sends = SENDING_ROLES.contains(&a.role.as_str());
            let (scope_name, in_scope) = match a.scope.and_then(|s| snapshot.scopes.get(&s)) {
                None if a.scope.is_some() => ("(deleted scope)".to_owned(), false),
                None => ("the whole organisation".to_owned(), true),
                Some(scope) => (format!("scope {} ({})", scope.name, scope.filter), scope.filter.matches(&target)),
            };
            let grants = sends && in_scope;
            let why = match (sends, in_scope) {
                (false, _) => format!("role {} does not allow sending", a.role),
                (true, true) => format!("role {} covers {mailbox} through {scope_name}", a.role),
                (true, false) => format!("role {} allows sending, but {mailbox} is outside {scope_name}", a.role),
            };
            (a.clone(), Consideration::assignment(a, grants, why), grants)
        })
        .collect()
}

/// The mailbox as a recipient filter sees it: its directory properties and every group that holds it.
fn filter_view(snapshot: &Snapshot, who: &Identity) -> MapRecipient {
    let dir = &snapshot.directory;
    let mailbox = who.canonical.as_str();
    let mut r = MapRecipient::new();
    match who.entry {
        Some(entry) => {
            r = r
                .with(Property::PrimarySmtpAddress, entry.address.clone())
                .with(Property::RecipientType, entry.recipient_type.clone())
                .with(Property::RecipientTypeDetails, entry.recipient_type_details.clone())
                .with(Property::DisplayName, entry.display_name.clone());
            for (name, value) in &entry.properties {
                if let Some(p) = Property::parse(name) {
                    r = r.with(p, value.clone());
                }
            }
            for a in &entry.email_addresses {
                r = r.with_address(a.clone());
            }
        }
        // Not in the directory: only its address is known, so filters on other properties do not match.
        None if mailbox.contains('@') => r = r.with(Property::PrimarySmtpAddress, mailbox),
        None => {}
    }
    for g in who.groups.iter().filter_map(|id| dir.groups().get(id)) {
        r = r.in_group(&g.address).in_group(&g.display_name);
        if let Some(oid) = g.object_id {
            r = r.in_group(&oid.to_string());
        }
    }
    r
}
