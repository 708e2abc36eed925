//! The documents fetched from Entra ID: OpenID metadata and the JWKS, and which keys are kept.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::DecodingKey;
use serde::Deserialize;

/// The part of `.well-known/openid-configuration` that is read.
#[derive(Deserialize)]
pub(super) struct Metadata {
    pub jwks_uri: String,
    /// The tokens' issuer, the tenant id in it.
    #[serde(default)]
    pub issuer: Option<String>,
}

/// `{"keys": [...]}`; each key is parsed on its own so one odd key cannot hide the rest.
#[derive(Deserialize)]
pub(super) struct JwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(rename = "use", default)]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x5t: Option<String>,
}

/// The usable keys of a JWKS, by `kid`, with an `x5t` → `kid` index.
#[derive(Default)]
pub(super) struct ParsedKeys {
    pub by_kid: HashMap<String, Arc<DecodingKey>>,
    pub kid_by_x5t: HashMap<String, String>,
}

impl JwkSet {
    /// Keeps RSA signing keys (`kty` RSA, `use` absent or `sig`, `alg` absent or RS256) that
    /// have a `kid` and a well-formed modulus and exponent; skips everything else.
    pub(super) fn usable_keys(self) -> ParsedKeys {
        let mut parsed = ParsedKeys::default();
        for value in self.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let usable = jwk.kty == "RSA"
                && jwk.use_.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (true, Some(kid), Some(n), Some(e)) = (usable, jwk.kid, jwk.n, jwk.e) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_rsa_components(&n, &e) else {
                continue;
            };
            if let Some(x5t) = jwk.x5t {
                parsed.kid_by_x5t.insert(x5t, kid.clone());
            }
            parsed.by_kid.insert(kid, Arc::new(key));
        }
        parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_rsa_signing_keys() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({ "keys": [
            { "kty": "RSA", "use": "sig", "kid": "good", "x5t": "t", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "kid": "no-use", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "use": "enc", "kid": "enc", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "alg": "RS384", "kid": "rs384", "n": "AQAB", "e": "AQAB" },
            { "kty": "EC", "use": "sig", "kid": "ec", "crv": "P-256", "x": "AQAB", "y": "AQAB" },
            { "kty": "RSA", "use": "sig", "n": "AQAB", "e": "AQAB" },
            { "kty": "RSA", "use": "sig", "kid": "bad-n", "n": "!!", "e": "AQAB" },
            { "kty": 7 },
        ]}))
        .expect("JWKS");
        let parsed = set.usable_keys();
        let mut kids: Vec<_> = parsed.by_kid.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["good", "no-use"]);
        assert_eq!(parsed.kid_by_x5t.get("t").map(String::as_str), Some("good"));
    }
}
