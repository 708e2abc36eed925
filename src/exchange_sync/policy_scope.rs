//! An access policy from `Get-ApplicationAccessPolicy`: its apps, access right, and the recipient its scope names.

use super::bundle;
use super::normalize::{guid, invalid, required};
use super::state::*;
use crate::admin::AdminError;

/// Recipient types Exchange accepts as a policy scope besides mail-enabled security groups.
const MAILBOX_SCOPES: &[&str] = &["UserMailbox", "MailUser"];

/// A recipient as a policy scope may name it: address, object ids, names.
pub(super) struct Known {
    pub address: String,
    pub is_group: bool,
    pub type_details: String,
    pub names: Vec<String>,
}

pub(super) fn policy(i: usize, p: &bundle::AccessPolicy, known: &[Known]) -> Result<(PolicyKey, String), AdminError> {
    let f = |name: &str| format!("ApplicationAccessPolicies[{i}].{name}");
    let right = required(&f("AccessRight"), &p.access_right)?;
    if right != "RestrictAccess" && right != "DenyAccess" {
        return Err(invalid(&f("AccessRight"), format!("{right:?} is not RestrictAccess or DenyAccess")));
    }
    let ids: Vec<&str> = p.app_id.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()).collect();
    let apps = match ids.as_slice() {
        [] => return Err(invalid(&f("AppId"), "names no app")),
        ["*"] => AppSet::All,
        _ if ids.contains(&"*") => return Err(invalid(&f("AppId"), "`*` cannot be combined with app ids")),
        _ => AppSet::Apps(ids.iter().map(|id| guid(&f("AppId"), id).map(PolicyApp::Entra)).collect::<Result<_, _>>()?),
    };
    // The Exchange object GUID after the SID in ScopeIdentityRaw, then the names Exchange shows.
    let raw_guid = p.scope_identity_raw.as_deref().and_then(|r| r.rsplit(';').next()).map(str::to_lowercase);
    let candidates = [
        ("ScopeIdentityRaw", raw_guid),
        ("ScopeIdentity", p.scope_identity.clone()),
        ("ScopeName", p.scope_name.clone()),
    ];
    let mut field = "ScopeIdentity";
    let mut found = None;
    for (name, value) in candidates {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else { continue };
        field = name;
        let wanted = value.trim().to_lowercase();
        let matches: Vec<&Known> = known.iter().filter(|k| k.names.contains(&wanted)).collect();
        match matches.as_slice() {
            [] => {}
            [one] => {
                found = Some((name, *one));
                break;
            }
            _ => return Err(invalid(&f(name), format!("{value:?} matches several recipients"))),
        }
    }
    let (field, k) = found.ok_or_else(|| invalid(&f(field), "names no recipient in Recipients"))?;
    let scope = if k.is_group {
        Scope::Group(k.address.clone())
    } else if MAILBOX_SCOPES.contains(&k.type_details.as_str()) {
        Scope::Mailbox(k.address.clone())
    } else {
        return Err(invalid(
            &f(field),
            format!(
                "{} is a {}; Exchange accepts only a user mailbox, a mail user or a mail-enabled security group as a policy scope",
                k.address, k.type_details
            ),
        ));
    };
    let key = PolicyKey { apps, scope, access_right: right.to_owned() };
    Ok((key, p.description.clone().unwrap_or_default()))
}
