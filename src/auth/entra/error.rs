//! Errors returned when a caller's Entra ID access token is refused.

/// Why a token was refused.
///
/// Every string carried by a variant comes from the token (a `kid`, an `aud`, …) and has been
/// passed through [`sanitize`], so it is short, printable ASCII and safe to place inside a
/// quoted `WWW-Authenticate` parameter. No variant ever carries the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("unsupported token algorithm {0}")]
    UnsupportedAlgorithm(String),
    #[error("unknown signing key {0}")]
    UnknownSigningKey(String),
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong token audience {0}")]
    WrongAudience(String),
    #[error("wrong token issuer {0}")]
    WrongIssuer(String),
    #[error("token tenant {0} not accepted")]
    WrongTenant(String),
    #[error("not an app-only token: {0}")]
    NotAppOnly(String),
    #[error("token lacks claim {0}")]
    MissingClaim(&'static str),
    #[error("token signing keys unavailable")]
    KeysUnavailable,
}

impl TokenError {
    /// A fixed word per kind of refusal, for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_token",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::UnknownSigningKey(_) => "unknown_signing_key",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongAudience(_) => "wrong_audience",
            Self::WrongIssuer(_) => "wrong_issuer",
            Self::WrongTenant(_) => "wrong_tenant",
            Self::NotAppOnly(_) => "delegated_token",
            Self::MissingClaim(_) => "missing_claim",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }

    /// A developer-friendly sentence for the `error_description` of a `WWW-Authenticate`
    /// header. It never contains the token.
    pub fn description(&self) -> String {
        match self {
            Self::Malformed(why) => format!("the token is malformed: {why}"),
            Self::UnsupportedAlgorithm(alg) => {
                format!("algorithm {alg} is not accepted; tokens must be RS256")
            }
            Self::UnknownSigningKey(kid) => {
                format!("the token is signed with an unknown key `{kid}`")
            }
            Self::BadSignature => "the token's signature is invalid".to_owned(),
            Self::Expired => "the token expired".to_owned(),
            Self::NotYetValid => "the token is not valid yet (its nbf is in the future)".to_owned(),
            Self::WrongAudience(aud) => {
                format!("the token's audience `{aud}` is not one this service accepts")
            }
            Self::WrongIssuer(iss) => {
                format!("the token's issuer `{iss}` does not match its tenant and token version")
            }
            Self::WrongTenant(tid) => {
                format!("the token was issued by tenant `{tid}`, which this service does not accept")
            }
            Self::NotAppOnly(why) => format!(
                "the token acts for a user ({why}); only app-only tokens, from the client credentials flow, are accepted"
            ),
            Self::MissingClaim(claim) => format!("the token has no `{claim}` claim"),
            Self::KeysUnavailable => "the service could not load Entra ID's signing keys; try again later".to_owned(),
        }
    }

    /// The OAuth 2.0 bearer-token error code (RFC 6750) that goes with this error.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::KeysUnavailable => "temporarily_unavailable",
            _ => "invalid_token",
        }
    }
}

/// Longest token-derived value kept in an error.
const MAX_ECHO: usize = 80;

/// Makes a token-derived value safe to echo: printable ASCII only, without `"`, `\` or `` ` ``
/// (so it can sit in a quoted header parameter), at most [`MAX_ECHO`] characters.
pub(super) fn sanitize(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(MAX_ECHO + 3));
    for (count, c) in value.chars().enumerate() {
        if count == MAX_ECHO {
            out.push_str("...");
            break;
        }
        out.push(if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '`') || c == ' ' { c } else { '?' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_strips_quotes_controls_and_caps_length() {
        assert_eq!(sanitize("a\"b\\c`d\r\né"), "a?b?c?d???");
        let long = "x".repeat(500);
        assert_eq!(sanitize(&long).len(), MAX_ECHO + 3);
    }

    #[test]
    fn descriptions_are_sentences() {
        assert_eq!(TokenError::Expired.description(), "the token expired");
        assert_eq!(
            TokenError::UnsupportedAlgorithm("HS256".into()).description(),
            "algorithm HS256 is not accepted; tokens must be RS256"
        );
        assert_eq!(
            TokenError::WrongAudience("x".into()).description(),
            "the token's audience `x` is not one this service accepts"
        );
    }
}
