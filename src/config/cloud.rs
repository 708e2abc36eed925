//! Which Microsoft cloud mailgate runs in (MAILGATE_CLOUD): the defaults of the Entra authority, Graph's URL and
//! token scope, and the database token's scope. A setting given explicitly wins over its cloud's default. Graph's
//! settings are gathered here.

use std::time::Duration;

use reqwest::Url;

use super::setting::{DefaultIs, Parse, settings};
use super::sources::{Raw, invalid};
use super::{ConfigError, entra};

settings! {
    /// the Microsoft cloud: `public` (also GCC), `usgov` (GCC High), `usgovdod` (DoD) or `china` (21Vianet); sets the
    /// defaults of the Entra authority, Graph's URL and scope and the database scope
    /// ([docs/entra.md](docs/entra.md#national-clouds))
    CLOUD: Cloud = "cloud", "MAILGATE_CLOUD", DefaultIs::Value("public");
    /// Graph base URL (the simulator locally)
    GRAPH_URL: Url = "graph_url", "MAILGATE_GRAPH_URL", DefaultIs::Derived("the cloud's (`https://graph.microsoft.com`)");
    /// token scope
    GRAPH_SCOPE: String = "graph_scope", "MAILGATE_GRAPH_SCOPE",
        DefaultIs::Derived("the cloud's (`https://graph.microsoft.com/.default`)");
}

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

impl Parse for Cloud {
    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "public" => Ok(Cloud::Public),
            "usgov" => Ok(Cloud::UsGov),
            "usgovdod" => Ok(Cloud::UsGovDod),
            "china" => Ok(Cloud::China),
            other => Err(format!("`{other}`: expected public, usgov, usgovdod or china")),
        }
    }
}

/// How mailgate reaches Graph.
#[derive(Clone, Debug)]
pub struct GraphSettings {
    /// Graph's base URL: MAILGATE_GRAPH_URL, else the cloud's.
    pub url: Url,
    /// The scope of mailgate's Graph token: MAILGATE_GRAPH_SCOPE, else the cloud's.
    pub scope: String,
    /// How long one Graph request may take (MAILGATE_GRAPH_TIMEOUT_SECS, declared with delivery, whose lease and
    /// shutdown grace follow it).
    pub timeout: Duration,
}

/// Graph's URL and scope (each given, else the cloud's), and the timeout of one request.
pub(super) fn graph(raw: &Raw, cloud: Cloud, timeout: Duration) -> Result<GraphSettings, ConfigError> {
    let url = raw.or(&GRAPH_URL, Url::parse(cloud.endpoints().graph_url).expect("valid"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(&GRAPH_URL.spec, "must be an http(s) URL with a host"));
    }
    Ok(GraphSettings { url, scope: raw.or(&GRAPH_SCOPE, cloud.graph_scope())?, timeout })
}

/// The Entra authority: MAILGATE_ENTRA_AUTHORITY_HOST, else the cloud's. Whether it was given explicitly.
pub(super) fn authority_host(raw: &Raw, cloud: Cloud) -> Result<(Url, bool), ConfigError> {
    let setting = &entra::ENTRA_AUTHORITY_HOST;
    let explicit = raw.given(setting).is_some();
    let host = raw.or(setting, Url::parse(cloud.endpoints().authority_host).expect("valid"))?;
    if !matches!(host.scheme(), "http" | "https") || host.host().is_none() {
        return Err(invalid(&setting.spec, "must be an http(s) URL"));
    }
    Ok((host, explicit))
}
