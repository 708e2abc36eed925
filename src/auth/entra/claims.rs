//! The parts of an Entra ID access token that mailgate reads: its JOSE header and its claims.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::error::{TokenError, sanitize};

/// Longest token accepted, in bytes. Entra access tokens are a few KiB even with many roles.
pub(super) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Which Entra token format the token uses (its `ver` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenVersion {
    /// `ver` = "1.0", issuer as the authority's v1 metadata says (public cloud: `https://sts.windows.net/{tid}/`),
    /// caller in `appid`.
    V1,
    /// `ver` = "2.0", issuer as the authority's v2 metadata says (public cloud:
    /// `https://login.microsoftonline.com/{tid}/v2.0`), caller in `azp`.
    V2,
}

/// The issuers the authority's OpenID metadata names, with the tenant id as `{tenantid}`: each cloud has its own
/// (`https://login.microsoftonline.us/{tenantid}/v2.0`, `https://sts.chinacloudapi.cn/{tenantid}/`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issuers {
    pub v1: Option<String>,
    pub v2: Option<String>,
}

impl Issuers {
    /// The issuer a token of `version` from tenant `tid` must carry; None while the metadata is unknown.
    pub fn expected(&self, version: TokenVersion, tid: &str) -> Option<String> {
        let template = match version {
            TokenVersion::V1 => self.v1.as_deref(),
            TokenVersion::V2 => self.v2.as_deref(),
        }?;
        Some(template.replace("{tenantid}", tid))
    }

    /// A metadata document's `issuer` for tenant `tenant`, with the tenant made a placeholder (Entra writes tenant
    /// ids in lower case; a configured one may not be).
    pub fn template(issuer: &str, tenant: &str) -> String {
        match issuer.to_ascii_lowercase().find(&tenant.to_ascii_lowercase()) {
            Some(at) if !tenant.is_empty() => {
                format!("{}{{tenantid}}{}", &issuer[..at], &issuer[at + tenant.len()..])
            }
            _ => issuer.to_owned(),
        }
    }
}

/// Who a validated token says the caller is.
#[derive(Debug, Clone)]
pub struct EntraIdentity {
    /// The token's `tid`, one of the allowed tenants.
    pub tenant_id: String,
    /// The calling application's client id: `appid` (v1) or `azp` (v2).
    pub app_id: String,
    /// The caller's service principal object id (`oid`), when present.
    pub object_id: Option<String>,
    /// App roles granted to the caller (`roles`), empty when absent.
    pub roles: Vec<String>,
    pub version: TokenVersion,
    /// The token's `sub`, when present.
    pub subject: Option<String>,
}

/// The JOSE header fields mailgate looks at.
#[derive(Debug, Deserialize)]
pub(super) struct JoseHeader {
    pub alg: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub x5t: Option<String>,
    #[serde(default)]
    pub crit: Option<serde_json::Value>,
}

/// Checks the token's size and shape: three base64url segments (the signature may be empty,
/// so that an `alg: none` token is refused for its algorithm rather than its shape).
/// Returns the header segment.
pub(super) fn split(token: &str) -> Result<&str, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed(format!("the token is longer than {MAX_TOKEN_LEN} bytes")));
    }
    shape(token)
}

/// The shape check of [`split`], without the size cap.
fn shape(token: &str) -> Result<&str, TokenError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("a JWT has three dot-separated segments".to_owned()));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(TokenError::Malformed("the token's header or payload segment is empty".to_owned()));
    }
    let base64url = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(base64url(header) && base64url(payload) && base64url(signature)) {
        return Err(TokenError::Malformed("the token's segments are not unpadded base64url".to_owned()));
    }
    Ok(header)
}

/// Decodes the header segment without verifying anything.
pub(super) fn parse_header(segment: &str) -> Result<JoseHeader, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed("the token header is not valid base64url".to_owned()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Malformed("the token header is not a JSON object with an `alg`".to_owned()))
}

/// Cheap check, no crypto: three base64url segments whose first decodes to a JSON object
/// with a string `alg`. Tells JWTs apart from API keys. An oversized JWT still looks like
/// one (so that it is refused as a token, not as an API key).
pub(super) fn looks_like_jwt(token: &str) -> bool {
    match shape(token) {
        Ok(header) => header.len() <= MAX_TOKEN_LEN && parse_header(header).is_ok(),
        Err(_) => false,
    }
}

/// `aud` is a string or an array of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn values(&self) -> &[String] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        }
    }
}

/// The claims read after the signature has been verified (exp/nbf are checked by jsonwebtoken).
#[derive(Debug, Deserialize)]
pub(super) struct Claims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    ver: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    roles: Option<Vec<String>>,
    /// Delegated permissions: present only on tokens acting for a user.
    #[serde(default)]
    scp: Option<serde_json::Value>,
    /// `app` on app-only tokens, `user` on delegated ones (an optional claim; absent unless configured).
    #[serde(default)]
    idtyp: Option<serde_json::Value>,
}

/// What the claims are checked against.
pub(super) struct ClaimRules<'a> {
    pub allowed_tenants: &'a [String],
    pub audiences: &'a [String],
}

impl Claims {
    /// Checks version, tenant (before issuer, so the error is precise), issuer, audience, that the
    /// token is app-only, and the caller's app id, and builds the identity.
    /// `issuers`: as the metadata that the signing key came with names them.
    pub(super) fn check(self, rules: &ClaimRules<'_>, issuers: &Issuers) -> Result<EntraIdentity, TokenError> {
        let version = match self.ver.as_deref() {
            Some("1.0") => TokenVersion::V1,
            Some("2.0") => TokenVersion::V2,
            Some(other) => {
                return Err(TokenError::Malformed(format!("token version `{}` is not 1.0 or 2.0", sanitize(other))));
            }
            None => return Err(TokenError::MissingClaim("ver")),
        };
        let tid = self.tid.ok_or(TokenError::MissingClaim("tid"))?;
        if !rules.allowed_tenants.iter().any(|allowed| allowed.eq_ignore_ascii_case(&tid)) {
            return Err(TokenError::WrongTenant(sanitize(&tid)));
        }
        let iss = self.iss.ok_or(TokenError::MissingClaim("iss"))?;
        if issuers.expected(version, &tid).as_deref() != Some(iss.as_str()) {
            return Err(TokenError::WrongIssuer(sanitize(&iss)));
        }
        let aud = self.aud.ok_or(TokenError::MissingClaim("aud"))?;
        let values = aud.values();
        if !values.iter().any(|a| rules.audiences.contains(a)) {
            return Err(TokenError::WrongAudience(sanitize(&values.join(", "))));
        }
        // Only app-only (client credentials) tokens: a delegated token's `azp` names the app a user signed in to,
        // and must not make the user that app.
        if self.scp.is_some() {
            return Err(TokenError::NotAppOnly("it carries delegated scopes (`scp`)".to_owned()));
        }
        match &self.idtyp {
            None => {}
            Some(serde_json::Value::String(t)) if t == "app" => {}
            Some(other) => {
                let shown = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                return Err(TokenError::NotAppOnly(format!("its `idtyp` is `{}`, not `app`", sanitize(&shown))));
            }
        }
        let app_id = match version {
            TokenVersion::V1 => self.appid.ok_or(TokenError::MissingClaim("appid"))?,
            TokenVersion::V2 => self.azp.ok_or(TokenError::MissingClaim("azp"))?,
        };
        Ok(EntraIdentity {
            tenant_id: tid,
            app_id,
            object_id: self.oid,
            roles: self.roles.unwrap_or_default(),
            version,
            subject: self.sub,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_rejects_bad_shapes() {
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
        assert!(split(".b.c").is_err());
        assert!(split("a=.b.c").is_err());
        assert!(split("a.b.").is_ok());
        assert!(split(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn looks_like_jwt_needs_alg() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        assert!(looks_like_jwt(&format!("{header}.e30.c2ln")));
        let no_alg = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT"}"#);
        assert!(!looks_like_jwt(&format!("{no_alg}.e30.c2ln")));
        assert!(!looks_like_jwt("mg_0123456789ab_secretsecret"));
        let huge = format!("{header}.{}.c2ln", "A".repeat(MAX_TOKEN_LEN));
        assert!(looks_like_jwt(&huge));
        assert!(split(&huge).is_err());
    }
}
