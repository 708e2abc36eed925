//! RBAC for Applications: role assignments to an app's service principal, scoped by management scopes whose
//! recipient filters are evaluated against the directory.
//!
//! A name the directory does not list may be a proxy address, UPN or object id of any mailbox, so its properties,
//! its mailbox's primary address and the groups holding that mailbox are all unknown. A scope grants it only when
//! the filter holds whatever they are (three-valued logic): through an exact `-eq` on that very address, or a group
//! membership the directory lists under that name. A pattern (`-like`, `-notlike`) or a negation (`-ne`, `-not`)
//! never grants it; an organisation-wide assignment needs no filter and does.

use uuid::Uuid;

use super::decide::Consideration;
use super::directory::Identity;
use super::model::{RoleAssignment, SENDING_ROLES, Snapshot};
use super::opath::{CompareOp, Comparison, Filter, MapRecipient, Property, Recipient, eq_ignore_case, strip_smtp};

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
            let (scope_name, in_scope, unlisted) = match a.scope.and_then(|s| snapshot.scopes.get(&s)) {
                None if a.scope.is_some() => ("(deleted scope)".to_owned(), false, false),
                None => ("the whole organisation".to_owned(), true, false),
                Some(scope) => {
                    let name = format!("scope {} ({})", scope.name, scope.filter);
                    match who.entry {
                        Some(_) => (name, scope.filter.matches(&target), false),
                        None => (name, holds_unlisted(&scope.filter, who, &target), true),
                    }
                }
            };
            let grants = sends && in_scope;
            let why = match (sends, in_scope) {
                (false, _) => format!("role {} does not allow sending", a.role),
                (true, true) => format!("role {} covers {mailbox} through {scope_name}", a.role),
                (true, false) if unlisted => format!(
                    "role {} allows sending, but {mailbox} is not in the directory and {scope_name} holds it only if \
                     the mailbox it names has properties, addresses or groups mailgate does not know; a name the \
                     directory does not list is granted only by an exact -eq on it or a group that lists it",
                    a.role
                ),
                (true, false) => format!("role {} allows sending, but {mailbox} is outside {scope_name}", a.role),
            };
            (a.clone(), Consideration::assignment(a, grants, why), grants)
        })
        .collect()
}

/// Whether `filter` holds a name the directory does not list, whatever that name's mailbox turns out to be. Only two
/// comparisons are known: an exact `PrimarySmtpAddress` or `EmailAddresses` `-eq`/`-ne` on the very address given
/// (the filter names it), and `MemberOfGroup` for a group that lists the name. Every other comparison is unknown.
fn holds_unlisted(filter: &Filter, who: &Identity, target: &MapRecipient) -> bool {
    let address = who.canonical.as_str();
    let leaf = |c: &Comparison| -> Option<bool> {
        let exact = match (c.op, c.value.as_text()) {
            (CompareOp::Eq | CompareOp::Ne, Some(v)) => match c.property {
                Property::PrimarySmtpAddress => address.contains('@') && eq_ignore_case(v, address),
                Property::EmailAddresses => address.contains('@') && eq_ignore_case(strip_smtp(v), address),
                Property::MemberOfGroup => target.member_of(v),
                _ => false,
            },
            _ => false,
        };
        exact.then_some(c.op == CompareOp::Eq)
    };
    filter.eval_partial(&leaf) == Some(true)
}

/// The mailbox as a recipient filter sees it: its directory properties (when the directory lists it) and every group
/// that holds it.
fn filter_view(snapshot: &Snapshot, who: &Identity) -> MapRecipient {
    let dir = &snapshot.directory;
    let mut r = MapRecipient::new();
    if let Some(entry) = who.entry {
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
    for g in who.groups.iter().filter_map(|id| dir.groups().get(id)) {
        r = r.in_group(&g.address).in_group(&g.display_name);
        if let Some(oid) = g.object_id {
            r = r.in_group(&oid.to_string());
        }
    }
    r
}
