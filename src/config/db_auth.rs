//! How mailgate's database connections authenticate: the password in the URLs, or an Entra access token.

use reqwest::Url;

use super::setting::{DefaultIs, Spec, settings};
use super::sources::{Raw, invalid};
use super::{Cloud, ConfigError, audit_reads, db};

settings! {
    /// `password`: the URLs carry it. `entra`: each new connection's password is an Entra access token of
    /// `MAILGATE_CREDENTIAL`'s identity, renewed before it expires; the URLs then name the role and no password
    /// ([passwordless](#passwordless-sign-in-on-azure))
    DB_AUTH: String = "db_auth", "MAILGATE_DB_AUTH", DefaultIs::Value("password");
    /// the database token's scope under `entra`
    DB_SCOPE: String = "db_scope", "MAILGATE_DB_SCOPE",
        DefaultIs::Derived("the cloud's (`https://ossrdbms-aad.database.windows.net/.default`)");
}

/// Azure Database for PostgreSQL's token audience in the public cloud; national clouds have their own
/// (MAILGATE_CLOUD), and MAILGATE_DB_SCOPE overrides either.
pub const DEFAULT_DB_SCOPE: &str = "https://ossrdbms-aad.database.windows.net/.default";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DbAuth {
    /// DATABASE_URL (and MAILGATE_MIGRATION_DATABASE_URL, MAILGATE_AUDIT_DATABASE_URL) carry the password, as they
    /// always did.
    Password,
    /// Each new connection's password is an Entra access token for `scope`, from the credential MAILGATE_CREDENTIAL
    /// names (the one mailgate also uses for Graph).
    Entra { scope: String },
}

pub(super) fn db_auth(raw: &Raw, cloud: Cloud) -> Result<DbAuth, ConfigError> {
    match raw.value(&DB_AUTH)?.as_str() {
        "password" => Ok(DbAuth::Password),
        "entra" => {
            let urls = [
                &db::DATABASE_URL,
                &db::MIGRATION_DATABASE_URL,
                &audit_reads::AUDIT_DATABASE_URL,
                &db::LISTEN_DATABASE_URL,
            ];
            for setting in urls {
                if let Some(url) = raw.given(setting) {
                    passwordless(&setting.spec, url)?;
                }
            }
            Ok(DbAuth::Entra { scope: raw.or(&DB_SCOPE, cloud.endpoints().db_scope.to_owned())? })
        }
        other => Err(invalid(&DB_AUTH.spec, format!("`{other}`: expected password or entra"))),
    }
}

/// Under Entra the URL names the role, host and database only: a password there would be a second, long-lived
/// secret next to the token, and which of the two is used would depend on the order things are applied in.
fn passwordless(key: &Spec, url: &str) -> Result<(), ConfigError> {
    // Only URLs are checked: a key=value connection string has no password slot sqlx would read here anyway.
    let Ok(parsed) = Url::parse(url) else {
        return Err(invalid(key, "must be a postgres:// URL when MAILGATE_DB_AUTH=entra"));
    };
    if parsed.password().is_some() {
        return Err(invalid(
            key,
            "holds a password, but MAILGATE_DB_AUTH=entra uses an Entra access token as the password; remove the \
             password from the URL (keep the role name, host and database)",
        ));
    }
    if parsed.username().is_empty() {
        return Err(invalid(
            key,
            "names no user; with MAILGATE_DB_AUTH=entra it must name the database role made for mailgate's identity \
             (pgaadauth_create_principal)",
        ));
    }
    Ok(())
}
