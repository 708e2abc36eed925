//! Roles: what a caller may do. An app's roles in mailgate bound everything its callers hold: an API key holds its
//! own roles that its app still has; an Entra token holds the `roles` Entra granted it (app roles on mailgate's
//! registration) that its app also has.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub enum Role {
    /// Send mail and read one's own messages.
    #[serde(rename = "Mail.Send")]
    MailSend,
    /// Read the audit log, its statistics, and any message.
    #[serde(rename = "Audit.Read")]
    AuditRead,
    /// Manage apps, keys and the policy mirror.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::MailSend, Role::AuditRead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MailSend => "Mail.Send",
            Self::AuditRead => "Audit.Read",
            Self::Admin => "Admin",
        }
    }

    /// Roles from strings, ignoring any this service does not define (a token may carry others' roles).
    pub fn known(names: &[String]) -> Vec<Role> {
        let mut roles: Vec<Role> = names.iter().filter_map(|n| n.parse().ok()).collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("`{s}` is not a role; expected Mail.Send, Audit.Read or Admin"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_roles_and_skips_others() {
        assert_eq!("mail.send".parse::<Role>(), Ok(Role::MailSend));
        assert!("Mail.Read".parse::<Role>().is_err());
        let got = Role::known(&["Admin".into(), "Other.Role".into(), "Mail.Send".into(), "Admin".into()]);
        assert_eq!(got, vec![Role::MailSend, Role::Admin]);
    }
}
