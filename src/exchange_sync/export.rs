//! The PowerShell that would create the mirror's state in Exchange Online.

use std::fmt::Write as _;

use sqlx::PgPool;

use super::current::{self, Current};
use super::state::*;

/// A PowerShell single-quoted string: nothing inside is expanded; a quote is doubled. PowerShell also treats the
/// typographic quotes ‘ ’ ‚ ‛ as single quotes, so they are doubled too.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

pub async fn export(pool: &PgPool) -> Result<String, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    Ok(render(&current::load(&mut conn).await?))
}

pub fn render(c: &Current) -> String {
    let m = &c.mirror;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("# The mailgate mirror as Exchange Online PowerShell (Connect-ExchangeOnline first).".into());
    line("# Mailboxes are not created here: they are expected to exist already.".into());

    line(String::new());
    line("# Mail-enabled security groups and their members".into());
    for (address, g) in &m.groups {
        let name =
            if g.display_name.is_empty() { address.split('@').next().unwrap_or(address) } else { &g.display_name };
        line(format!(
            "New-DistributionGroup -Type Security -Name {} -DisplayName {} -PrimarySmtpAddress {}",
            quote(name),
            quote(name),
            quote(address)
        ));
    }
    for key in m.members.keys() {
        let member = match &key.member {
            MemberRef::Mailbox(mb) | MemberRef::Group(mb) => mb,
        };
        line(format!("Add-DistributionGroupMember -Identity {} -Member {}", quote(&key.group), quote(member)));
    }

    line(String::new());
    line("# Application access policies".into());
    for (key, p) in &m.policies {
        let app_ids = match &key.apps {
            AppSet::All => quote("*"),
            AppSet::Apps(apps) => {
                if let Some(PolicyApp::Local(name)) = apps.iter().find(|a| matches!(a, PolicyApp::Local(_))) {
                    let name = name.replace(['\r', '\n'], " ");
                    line(format!(
                        "# Not expressible in Exchange: mailgate app {name} has no Entra app id ({} policy on {}).",
                        key.access_right, key.scope
                    ));
                    continue;
                }
                apps.iter().map(|a| quote(&a.to_string())).collect::<Vec<_>>().join(",")
            }
        };
        let scope = match &key.scope {
            Scope::Group(a) | Scope::Mailbox(a) => a,
        };
        let mut cmd = format!(
            "New-ApplicationAccessPolicy -AppId {app_ids} -PolicyScopeGroupId {} -AccessRight {}",
            quote(scope),
            key.access_right
        );
        if !p.description.is_empty() {
            let _ = write!(cmd, " -Description {}", quote(&p.description));
        }
        line(cmd);
    }

    line(String::new());
    line("# RBAC for Applications".into());
    for (app_id, sp) in &m.service_principals {
        line(format!(
            "New-ServicePrincipal -AppId {} -ObjectId {} -DisplayName {}",
            quote(&app_id.to_string()),
            quote(&sp.object_id.to_string()),
            quote(&sp.display_name)
        ));
    }
    for (name, s) in &m.scopes {
        line(format!(
            "New-ManagementScope -Name {} -RecipientRestrictionFilter {}",
            quote(name),
            quote(&s.recipient_filter)
        ));
    }
    for (name, a) in &m.assignments {
        let mut cmd = format!(
            "New-ManagementRoleAssignment -Name {} -App {} -Role {}",
            quote(name),
            quote(&a.service_principal.to_string()),
            quote(&a.role)
        );
        if let Some(scope) = &a.scope {
            let _ = write!(cmd, " -CustomResourceScope {}", quote(scope));
        }
        line(cmd);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quotes_are_doubled_and_nothing_expands() {
        assert_eq!(quote("it's $env:PATH"), "'it''s $env:PATH'");
        assert_eq!(quote("‘x’"), "'‘‘x’’'");
        assert_eq!(quote(""), "''");
    }
}
