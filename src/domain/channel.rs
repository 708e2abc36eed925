//! Which door a message came in by, and from where: shown with the message, so that an operator can tell a
//! printer's mail from an app's.

use serde::Serialize;
use utoipa::ToSchema;

/// The door a message came in by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `POST /v1/messages`.
    #[default]
    Http,
    /// The Graph-shaped `POST /v1.0/users/{mailbox}/sendMail`.
    Graph,
    /// SMTP submission.
    Smtp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Graph => "graph",
            Self::Smtp => "smtp",
        }
    }
}

/// Where a message came from: its door, and for SMTP the session's peer address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub channel: Channel,
    pub source_address: Option<String>,
}
