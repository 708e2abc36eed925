//! Importing the mirror from Exchange Online's own output (a bundle of cmdlet results as JSON), with a dry run
//! that reports the diff and an apply that makes exactly that diff in one transaction; and exporting the mirror
//! back as the PowerShell that would create it.

pub mod apply;
pub mod bundle;
pub mod current;
pub mod diff;
pub mod export;
pub mod normalize;
mod policy_scope;
pub mod report;
pub mod state;
pub mod unscoped;

pub use apply::import;
pub use bundle::Bundle;
pub use export::export;
pub use normalize::normalize;
pub use report::Report;
pub use state::Desired;

use crate::admin::AdminError;

/// Reads a bundle from JSON text, naming the field at fault (`Recipients[3].Name`).
pub fn parse_bundle(text: &[u8]) -> Result<Bundle, AdminError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let bundle: Bundle = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let detail = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        AdminError::invalid(&path, format!("{path}: {detail}"))
    })?;
    de.end().map_err(|e| AdminError::invalid(".", format!("trailing text after the bundle: {e}")))?;
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::state::{AppSet, MemberKey, MemberRef, Scope};
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/exo/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
    }

    #[test]
    fn the_fixtures_parse_and_normalize() {
        let b = parse_bundle(&fixture("bundle.json")).expect("parse");
        assert_eq!(b.application_access_policies.len(), 3);
        assert_eq!(b.group_members["dl-exec-assistants@contoso.test"].len(), 1, "one member printed as an object");
        let d = normalize(&b).expect("normalize");
        assert_eq!((d.mirror.recipients.len(), d.mirror.groups.len(), d.mirror.members.len()), (8, 4, 6));
        assert!(d.mirror.groups.contains_key("dl-graph-scope@contoso.test"), "addresses are lower-cased");
        let nested = MemberKey {
            group: "dl-executives@contoso.test".into(),
            member: MemberRef::Group("dl-exec-assistants@contoso.test".into()),
        };
        assert!(d.mirror.members.contains_key(&nested));
        assert!(d.mirror.policies.keys().any(|k| k.apps == AppSet::All));
        assert!(d.mirror.policies.keys().all(|k| matches!(k.scope, Scope::Group(_))));
        assert_eq!(d.mirror.assignments["mailgate-read-all"].scope, None, "org-wide");
        assert_eq!(d.policy_app_ids.len(), 2);
        assert_eq!(d.mail_send_grants.as_ref().map(|g| g.len()), Some(2));

        let changed = parse_bundle(&fixture("bundle-changed.json")).expect("parse");
        assert_eq!(changed.management_scopes.len(), 1, "one scope printed as an object");
        let d = normalize(&changed).expect("normalize");
        assert_eq!((d.mirror.policies.len(), d.mirror.members.len()), (2, 7));
    }

    #[test]
    fn every_name_of_a_mailbox_is_kept_and_one_name_on_two_mailboxes_is_refused() {
        let d = normalize(&parse_bundle(&fixture("bundle.json")).expect("parse")).expect("normalize");
        let ceo = &d.mirror.recipients["ceo@contoso.test"];
        assert_eq!(ceo.user_principal_name.as_deref(), Some("megan.bowen@contoso.onmicrosoft.com"));

        let mut v: serde_json::Value = serde_json::from_slice(&fixture("bundle.json")).expect("json");
        let recipients = v["Recipients"].as_array_mut().expect("recipients");
        let cfo = recipients.iter().position(|r| r["PrimarySmtpAddress"] == "cfo@contoso.test").expect("cfo");
        // The CFO claiming the CEO's alias, in another case.
        recipients[cfo]["EmailAddresses"] =
            serde_json::json!(["SMTP:cfo@contoso.test", "smtp:MEGANB@contoso.onmicrosoft.com"]);
        let err = normalize(&parse_bundle(v.to_string().as_bytes()).expect("parse")).expect_err("refused");
        let crate::admin::AdminError::Invalid { field, detail } = err else { panic!("{err:?}") };
        assert_eq!(field, format!("Recipients[{cfo}].EmailAddresses"));
        assert!(detail.contains("meganb@contoso.onmicrosoft.com"), "{detail}");
    }

    #[test]
    fn shape_errors_name_their_path() {
        let mut v: serde_json::Value = serde_json::from_slice(&fixture("bundle.json")).expect("json");
        v["ManagementRoleAssignments"][1]["Role"] = serde_json::json!(["x"]);
        let err = parse_bundle(v.to_string().as_bytes()).expect_err("refused");
        assert!(
            matches!(&err, AdminError::Invalid { field, .. } if field == "ManagementRoleAssignments[1].Role"),
            "{err:?}"
        );
    }
}
