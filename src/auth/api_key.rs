//! API keys: `mg_<prefix>_<secret>`. The prefix finds the key and is safe to show; the secret is 256 random
//! bits, shown once at creation and kept only as a SHA-256 digest (a fast hash is enough for a random secret).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX_LEN: usize = 12;
const SECRET_LEN: usize = 43;

/// A key as presented by a caller, split but not yet checked against the store.
pub struct ApiKey {
    prefix: String,
    full: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey(mg_{}_…)", self.prefix)
    }
}

impl ApiKey {
    /// Makes a new random key. Returns it whole; store only `prefix()` and `digest()`.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut prefix = [0u8; PREFIX_LEN / 2];
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut prefix);
        rng.fill_bytes(&mut secret);
        let prefix: String = prefix.iter().map(|b| format!("{b:02x}")).collect();
        let full = format!("mg_{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
        Self { prefix, full }
    }

    /// Recognises the shape of a mailgate key; anything else is not one (it may be a JWT).
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix("mg_")?;
        let (prefix, secret) = rest.split_at_checked(PREFIX_LEN)?;
        let secret = secret.strip_prefix('_')?;
        let ok = prefix.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            && secret.len() == SECRET_LEN
            && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self { prefix: prefix.to_owned(), full: raw.to_owned() })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The whole key, for showing once to whoever created it.
    pub fn reveal(&self) -> &str {
        &self.full
    }

    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.full.as_bytes()).to_vec()
    }

    /// Compares in constant time, so response timing tells nothing about the stored digest.
    pub fn matches(&self, stored_digest: &[u8]) -> bool {
        self.digest().ct_eq(stored_digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_their_digest() {
        let key = ApiKey::generate();
        let parsed = ApiKey::parse(key.reveal()).expect("own shape");
        assert_eq!(parsed.prefix(), key.prefix());
        assert!(parsed.matches(&key.digest()));
        assert!(!ApiKey::generate().matches(&key.digest()));
        assert_ne!(ApiKey::generate().reveal(), key.reveal());
    }

    #[test]
    fn other_strings_are_not_keys() {
        let key = ApiKey::generate();
        let s = key.reveal();
        assert!(ApiKey::parse(&s[..s.len() - 1]).is_none());
        assert!(ApiKey::parse(&s.replacen("mg_", "xx_", 1)).is_none());
        assert!(ApiKey::parse("eyJhbGciOiJSUzI1NiJ9.e30.sig").is_none());
        assert!(!format!("{key:?}").contains(&s[16..]), "debug shows the secret");
    }
}
