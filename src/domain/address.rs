//! Email addresses and mailbox identities.

use std::fmt;

/// A syntactically valid SMTP address (`local@domain`), kept lower-cased: Exchange matches case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > 254 {
            return Err("is longer than 254 characters".into());
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("contains whitespace or a control character".into());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(|| format!("`{raw}` is not an address: no `@`"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(format!("`{raw}` is not an address: the part before `@` must be 1-64 characters"));
        }
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c) || !c.is_ascii();
        if !local.chars().all(atext) || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(format!("`{raw}` is not an address: invalid characters before `@`"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(format!("`{raw}` is not an address: `{domain}` is not a domain name"));
        }
        Ok(Self(raw.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A mailbox to send as: its SMTP address or its Entra object id, as Graph's `/users/{id | userPrincipalName}` takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mailbox {
    Address(EmailAddress),
    ObjectId(uuid::Uuid),
}

impl Mailbox {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Ok(id) = uuid::Uuid::parse_str(raw) {
            return Ok(Self::ObjectId(id));
        }
        EmailAddress::parse(raw)
            .map(Self::Address)
            .map_err(|e| format!("{e} (expected a mailbox address or object id)"))
    }

    /// This name in normal form (lower-cased address, hyphenated object id). Not yet the mailbox's canonical name:
    /// the directory resolves it to the primary address (`policy::Directory::identify`), which decisions, limits and
    /// the audit log use.
    pub fn key(&self) -> String {
        match self {
            Self::Address(a) => a.as_str().to_owned(),
            Self::ObjectId(id) => id.hyphenated().to_string(),
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// One name of a mailbox in the form the directory's index keys it (`policy::Directory`, the recipient_names table):
/// lower-cased, object ids hyphenated.
pub fn name_key(name: &str) -> String {
    let name = name.trim();
    match uuid::Uuid::parse_str(name) {
        Ok(id) => id.hyphenated().to_string(),
        Err(_) => name.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_them() {
        let a = EmailAddress::parse("Notifications@Contoso.TEST").expect("valid");
        assert_eq!(a.as_str(), "notifications@contoso.test");
        assert!(EmailAddress::parse("first.last+tag@sub.example.com").is_ok());
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa mple.com",
            "a\r\n@example.com",
            "a..b@example.com",
            ".a@example.com",
            "a@-x.com",
            "a@x..com",
            "a<b>@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn mailbox_takes_an_object_id_or_an_address() {
        let id = "15ca046b-ee0f-426e-858e-949b5f826596";
        assert_eq!(Mailbox::parse(id).expect("id").key(), id);
        assert_eq!(Mailbox::parse("Shared@Contoso.test").expect("addr").key(), "shared@contoso.test");
        assert!(Mailbox::parse("not a mailbox").is_err());
    }
}
