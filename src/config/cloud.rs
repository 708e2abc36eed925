//! Which Microsoft cloud mailgate runs in (MAILGATE_CLOUD): the defaults of the Entra authority, Graph's URL and
//! token scope, and the database token's scope. A setting given explicitly wins over its cloud's default.

use reqwest::Url;

use super::{ConfigError, Raw, invalid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cloud {
    /// The global service (also GCC, which runs in it).
    Public,
    /// US Government L4 (GCC High).
    UsGov,
    /// US Government L5 (DoD).
    UsGovDod,
    /// Microsoft 365 operated by 21Vianet.
    China,
}

/// A cloud's endpoints, as Microsoft documents them for national clouds.
pub struct Endpoints {
    pub authority_host: &'static str,
    pub graph_url: &'static str,
    pub db_scope: &'static str,
}

impl Cloud {
    pub fn endpoints(self) -> Endpoints {
        match self {
            Self::Public => Endpoints {
                authority_host: "https://login.microsoftonline.com",
                graph_url: "https://graph.microsoft.com",
                db_scope: "https://ossrdbms-aad.database.windows.net/.default",
            },
            Self::UsGov => Endpoints {
                authority_host: "https://login.microsoftonline.us",
                graph_url: "https://graph.microsoft.us",
                db_scope: "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
            },
            Self::UsGovDod => Endpoints {
                authority_host: "https://login.microsoftonline.us",
                graph_url: "https://dod-graph.microsoft.us",
                db_scope: "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
            },
            Self::China => Endpoints {
                authority_host: "https://login.chinacloudapi.cn",
                graph_url: "https://microsoftgraph.chinacloudapi.cn",
                db_scope: "https://ossrdbms-aad.database.chinacloudapi.cn/.default",
            },
        }
    }

    /// Graph's token scope: its URL's `/.default`.
    pub fn graph_scope(self) -> String {
        format!("{}/.default", self.endpoints().graph_url)
    }
}

pub(super) fn cloud(raw: &Raw) -> Result<Cloud, ConfigError> {
    match raw.get("cloud").unwrap_or("public") {
        "public" => Ok(Cloud::Public),
        "usgov" => Ok(Cloud::UsGov),
        "usgovdod" => Ok(Cloud::UsGovDod),
        "china" => Ok(Cloud::China),
        other => Err(invalid("cloud", format!("`{other}`: expected public, usgov, usgovdod or china"))),
    }
}

/// The Entra authority: MAILGATE_ENTRA_AUTHORITY_HOST, else the cloud's. Whether it was given explicitly.
pub(super) fn authority_host(raw: &Raw, cloud: Cloud) -> Result<(Url, bool), ConfigError> {
    let explicit = raw.get("entra_authority_host").is_some();
    let host: Url = raw.parse("entra_authority_host", Url::parse(cloud.endpoints().authority_host).expect("valid"))?;
    if !matches!(host.scheme(), "http" | "https") || host.host().is_none() {
        return Err(invalid("entra_authority_host", "must be an http(s) URL"));
    }
    Ok((host, explicit))
}
