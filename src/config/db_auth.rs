//! How mailgate's database connections authenticate: the password in the URLs, or an Entra access token.

use reqwest::Url;

use super::{Cloud, ConfigError, Raw, invalid};

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
    match raw.get("db_auth").unwrap_or("password") {
        "password" => Ok(DbAuth::Password),
        "entra" => {
            for key in ["database_url", "migration_database_url", "audit_database_url", "listen_database_url"] {
                if let Some(url) = raw.get(key) {
                    passwordless(key, url)?;
                }
            }
            Ok(DbAuth::Entra { scope: raw.get("db_scope").unwrap_or(cloud.endpoints().db_scope).to_owned() })
        }
        other => Err(invalid("db_auth", format!("`{other}`: expected password or entra"))),
    }
}

/// Under Entra the URL names the role, host and database only: a password there would be a second, long-lived
/// secret next to the token, and which of the two is used would depend on the order things are applied in.
fn passwordless(key: &'static str, url: &str) -> Result<(), ConfigError> {
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
