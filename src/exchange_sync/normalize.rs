//! From a bundle to the desired state, refusing what Exchange itself would not hold, with the object and field named.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::bundle::{self, Bundle};
use super::policy_scope::{Known, policy};
use super::state::*;
use crate::admin::AdminError;
use crate::domain::EmailAddress;
use crate::policy::directory::{check_proxy, mailbox_names};

/// Recipient properties kept for recipient filters, by their OPATH names.
const PROPERTIES: &[&str] = &[
    "Department",
    "Company",
    "Office",
    "City",
    "StateOrProvince",
    "CountryOrRegion",
    "Title",
    "CustomAttribute1",
    "CustomAttribute2",
    "CustomAttribute3",
    "CustomAttribute4",
    "CustomAttribute5",
    "CustomAttribute6",
    "CustomAttribute7",
    "CustomAttribute8",
    "CustomAttribute9",
    "CustomAttribute10",
    "CustomAttribute11",
    "CustomAttribute12",
    "CustomAttribute13",
    "CustomAttribute14",
    "CustomAttribute15",
];

pub(super) fn invalid(field: &str, detail: impl std::fmt::Display) -> AdminError {
    AdminError::invalid(field, format!("{field}: {detail}"))
}

pub(super) fn guid(field: &str, raw: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(raw.trim()).map_err(|_| invalid(field, format!("{raw:?} is not a GUID")))
}

pub(super) fn required<'a>(field: &str, v: &'a Option<String>) -> Result<&'a str, AdminError> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| invalid(field, "is missing or empty"))
}

pub fn normalize(b: &Bundle) -> Result<Desired, AdminError> {
    let mut d = Desired::default();
    let mut known = Vec::new();
    // Every address, UPN and object id of a mailbox → that mailbox, to refuse one name on two mailboxes.
    let mut names_taken: BTreeMap<String, String> = BTreeMap::new();
    for (i, r) in b.recipients.iter().enumerate() {
        let f = |name: &str| format!("Recipients[{i}].{name}");
        let raw = required(&f("PrimarySmtpAddress"), &r.primary_smtp_address)?;
        let address = EmailAddress::parse(raw).map_err(|e| invalid(&f("PrimarySmtpAddress"), e))?.to_string();
        let object_id = r
            .external_directory_object_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| guid(&f("ExternalDirectoryObjectId"), s))
            .transpose()?;
        let user_principal_name = r
            .user_principal_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| EmailAddress::parse(s).map_err(|e| invalid(&f("UserPrincipalName"), e)))
            .transpose()?
            .map(|upn| upn.to_string());
        let details = required(&f("RecipientTypeDetails"), &r.recipient_type_details)?.to_owned();
        let display_name = r.display_name.clone().unwrap_or_default();
        if d.mirror.recipients.contains_key(&address) || d.mirror.groups.contains_key(&address) {
            return Err(invalid(&f("PrimarySmtpAddress"), format!("{address} appears twice in Recipients")));
        }
        let mut names: Vec<String> = [&r.name, &r.display_name, &r.alias, &r.guid]
            .into_iter()
            .flatten()
            .chain(object_id.map(|o| o.to_string()).as_ref())
            .map(|s| s.to_lowercase())
            .collect();
        names.push(address.clone());
        known.push(Known {
            address: address.clone(),
            is_group: details == SECURITY_GROUP,
            type_details: details.clone(),
            names,
        });
        if details == SECURITY_GROUP {
            d.mirror.groups.insert(address, GroupState { object_id, display_name, recipient_type_details: details });
            continue;
        }
        let mut properties = BTreeMap::new();
        for (name, value) in [("Name", &r.name), ("Alias", &r.alias)] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                properties.insert(name.to_owned(), v.to_owned());
            }
        }
        for name in PROPERTIES {
            match r.other.get(*name) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) if s.is_empty() => {}
                Some(serde_json::Value::String(s)) => {
                    properties.insert((*name).to_owned(), s.clone());
                }
                Some(other) => return Err(invalid(&f(name), format!("{other} is not a string"))),
            }
        }
        let recipient_type = r.recipient_type.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| details.clone());
        let email_addresses = r.email_addresses.clone();
        for (j, proxy) in email_addresses.iter().enumerate() {
            check_proxy(proxy).map_err(|e| invalid(&f(&format!("EmailAddresses[{j}]")), e))?;
        }
        let state = RecipientState {
            object_id,
            user_principal_name,
            recipient_type,
            recipient_type_details: details,
            display_name,
            properties,
            email_addresses,
        };
        for name in mailbox_names(&address, &state.email_addresses, state.user_principal_name.as_deref(), object_id) {
            if let Some(other) = names_taken.insert(name.clone(), address.clone()) {
                return Err(invalid(
                    &f("EmailAddresses"),
                    format!("{name} names both {other} and {address}; a name can belong to one mailbox only"),
                ));
            }
        }
        d.mirror.recipients.insert(address, state);
    }

    for (group, members) in &b.group_members {
        let field = format!("GroupMembers[{group:?}]");
        let g = group.to_lowercase();
        if !d.mirror.groups.contains_key(&g) {
            return Err(match d.mirror.recipients.get(&g) {
                Some(r) => {
                    invalid(&field, format!("{g} is a {}, not a mail-enabled security group", r.recipient_type_details))
                }
                None => invalid(&field, format!("{g} is not a mail-enabled security group in Recipients")),
            });
        }
        for (j, m) in members.iter().enumerate() {
            let mf = |name: &str| format!("{field}[{j}].{name}");
            let member = member_ref(m, &mf)?;
            if let MemberRef::Group(child) = &member {
                if !d.mirror.groups.contains_key(child) {
                    return Err(invalid(
                        &mf("PrimarySmtpAddress"),
                        format!("{child} is not a mail-enabled security group in Recipients"),
                    ));
                }
                if *child == g {
                    return Err(invalid(&mf("PrimarySmtpAddress"), format!("{g} cannot contain itself")));
                }
            }
            d.mirror.members.insert(MemberKey { group: g.clone(), member }, Present {});
        }
    }

    let mut sp_names: Vec<(Uuid, Vec<String>)> = Vec::new();
    for (i, sp) in b.service_principals.iter().enumerate() {
        let f = |name: &str| format!("ServicePrincipals[{i}].{name}");
        let app_id = guid(&f("AppId"), required(&f("AppId"), &sp.app_id)?)?;
        let object_id = guid(&f("ObjectId"), required(&f("ObjectId"), &sp.object_id)?)?;
        let display_name = sp.display_name.clone().unwrap_or_default();
        if d.mirror.service_principals.contains_key(&app_id) {
            return Err(invalid(&f("AppId"), format!("{app_id} appears twice in ServicePrincipals")));
        }
        let names = [&sp.identity, &sp.display_name].into_iter().flatten().map(|s| s.to_lowercase());
        sp_names.push((app_id, names.chain([app_id.to_string(), object_id.to_string()]).collect()));
        if !display_name.is_empty() {
            d.app_names.insert(app_id, display_name.clone());
        }
        d.mirror.service_principals.insert(app_id, ServicePrincipalState { object_id, display_name });
    }

    for (i, s) in b.management_scopes.iter().enumerate() {
        let f = |name: &str| format!("ManagementScopes[{i}].{name}");
        let name = required(&f("Name"), &s.name)?.to_owned();
        if let Some(t) = s.scope_restriction_type.as_deref().filter(|t| !t.is_empty() && *t != "RecipientScope") {
            return Err(invalid(&f("ScopeRestrictionType"), format!("{t:?} is not RecipientScope")));
        }
        let (filter_field, filter) = match (&s.recipient_restriction_filter, &s.recipient_filter) {
            (Some(x), _) if !x.trim().is_empty() => ("RecipientRestrictionFilter", x.clone()),
            (_, y) => ("RecipientFilter", y.clone().unwrap_or_default()),
        };
        check_filter(&filter).map_err(|e| invalid(&f(filter_field), format!("{filter:?}: {e}")))?;
        if d.mirror.scopes.insert(name.clone(), ScopeState { recipient_filter: filter }).is_some() {
            return Err(invalid(&f("Name"), format!("{name:?} appears twice in ManagementScopes")));
        }
    }

    for (i, a) in b.management_role_assignments.iter().enumerate() {
        let f = |name: &str| format!("ManagementRoleAssignments[{i}].{name}");
        let name = required(&f("Name"), &a.name)?.to_owned();
        let role = required(&f("Role"), &a.role)?.to_owned();
        if !ROLES.contains(&role.as_str()) {
            return Err(invalid(&f("Role"), format!("{role:?} is not an RBAC for Applications role")));
        }
        if let Some(t) = a.role_assignee_type.as_deref().filter(|t| !t.is_empty() && *t != "ServicePrincipal") {
            return Err(invalid(&f("RoleAssigneeType"), format!("{t:?} is not ServicePrincipal")));
        }
        let (assignee_field, assignee) = match (&a.role_assignee, &a.role_assignee_name) {
            (Some(x), _) if !x.trim().is_empty() => ("RoleAssignee", x.trim()),
            (_, y) => ("RoleAssigneeName", required(&f("RoleAssigneeName"), y)?),
        };
        let wanted = assignee.to_lowercase();
        let service_principal =
            sp_names.iter().find(|(_, names)| names.contains(&wanted)).map(|(id, _)| *id).ok_or_else(|| {
                invalid(&f(assignee_field), format!("{assignee:?} names no service principal in ServicePrincipals"))
            })?;
        let scope = match a.custom_resource_scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) if d.mirror.scopes.contains_key(s) => Some(s.to_owned()),
            Some(s) => {
                return Err(invalid(&f("CustomResourceScope"), format!("{s:?} names no scope in ManagementScopes")));
            }
        };
        if d.mirror.assignments.insert(name.clone(), AssignmentState { service_principal, role, scope }).is_some() {
            return Err(invalid(&f("Name"), format!("{name:?} appears twice in ManagementRoleAssignments")));
        }
    }

    for (i, p) in b.application_access_policies.iter().enumerate() {
        let (key, description) = policy(i, p, &known)?;
        if let AppSet::Apps(apps) = &key.apps {
            d.policy_app_ids.extend(apps.iter().filter_map(|a| match a {
                PolicyApp::Entra(id) => Some(*id),
                PolicyApp::Local(_) => None,
            }));
        }
        if d.mirror.policies.insert(key.clone(), PolicyState { description }).is_some() {
            return Err(invalid(&format!("ApplicationAccessPolicies[{i}]"), format!("a second policy {key}")));
        }
    }

    if let Some(grants) = &b.entra_mail_send_grants {
        let ids = grants.iter().enumerate().map(|(i, g)| guid(&format!("EntraMailSendGrants[{i}]"), g));
        d.mail_send_grants = Some(ids.collect::<Result<BTreeSet<_>, _>>()?);
    }
    Ok(d)
}

fn member_ref(m: &bundle::Member, f: &dyn Fn(&str) -> String) -> Result<MemberRef, AdminError> {
    let address = m.primary_smtp_address.as_deref().filter(|s| !s.is_empty());
    let is_group = m.recipient_type_details.as_deref() == Some(SECURITY_GROUP);
    match address {
        Some(a) => {
            let a = EmailAddress::parse(a).map_err(|e| invalid(&f("PrimarySmtpAddress"), e))?.to_string();
            Ok(if is_group { MemberRef::Group(a) } else { MemberRef::Mailbox(a) })
        }
        None if !is_group => {
            let raw = required(&f("ExternalDirectoryObjectId"), &m.external_directory_object_id)?;
            Ok(MemberRef::Mailbox(guid(&f("ExternalDirectoryObjectId"), raw)?.to_string()))
        }
        None => Err(invalid(&f("PrimarySmtpAddress"), "a nested group needs its address")),
    }
}
