//! The fake tenant's RSA keys and the raw JWS assembly used by [`super::TestIssuer`].

use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// One RSA signing key of the fake tenant.
pub(super) struct TestKey {
    pub kid: String,
    pub x5t: String,
    pair: KeyPair,
}

impl TestKey {
    pub fn generate() -> Arc<Self> {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        let id = uuid::Uuid::new_v4().simple().to_string();
        Arc::new(Self { kid: format!("kid-{id}"), x5t: format!("x5t-{id}"), pair })
    }

    pub fn jwk(&self) -> Value {
        let parts = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.x5t,
            "n": URL_SAFE_NO_PAD.encode(&parts.n), "e": URL_SAFE_NO_PAD.encode(&parts.e),
        })
    }

    pub fn spki_der(&self) -> Vec<u8> {
        let der = self.pair.public_key().as_der().expect("public key DER");
        der.as_ref().to_vec()
    }

    pub fn sign(&self, encoding: &'static dyn RsaEncoding, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair.sign(encoding, &SystemRandom::new(), message, &mut signature).expect("RSA signing");
        signature
    }
}

/// `base64url(header).base64url(claims)`
pub(super) fn signing_input(header: &Value, claims: &Value) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
    format!("{}.{}", encode(header), encode(claims))
}

/// PEM text with `label` around `der`.
pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}
