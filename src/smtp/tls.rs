//! TLS for SMTP (STARTTLS and implicit TLS) with rustls, from the PEM files the settings name. The files are read
//! again every few seconds; when they change (cert-manager or a Key Vault CSI mount rotates them, often by swapping
//! a symlink) new handshakes get the new pair. A pair that does not load keeps the old one, with a warning.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// How often the files are looked at again.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The pair handshakes present, swapped when the files change.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The files' bytes the first pair came from, so a change made before the watch starts is not missed.
    first: (Vec<u8>, Vec<u8>),
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

/// The acceptor for `files`, and what keeps its certificate current; an error names the setting whose file is at
/// fault.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<(TlsAcceptor, Arc<Certificates>)> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let first = read(files)?;
    let pair = load(files, &provider, &first.0, &first.1)?;
    let certificates =
        Arc::new(Certificates { files: files.clone(), provider: provider.clone(), current: RwLock::new(pair), first });
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(certificates.clone());
    Ok((TlsAcceptor::from(Arc::new(config)), certificates))
}

impl Certificates {
    /// Looks at the files every few seconds until `stop`, taking a changed pair that loads.
    pub async fn watch(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // What was last read, loaded or not: a pair is tried (and warned about) once per change.
        let mut seen = self.first.clone();
        loop {
            tokio::select! {
                () = super::stopped(&mut stop) => return,
                () = tokio::time::sleep(RELOAD_EVERY) => {}
            }
            let this = self.clone();
            let Ok(Ok(files)) = tokio::task::spawn_blocking(move || read(&this.files)).await else {
                // Mid-swap, or unreadable for now: the pair in use stays until a readable one appears.
                continue;
            };
            if seen == files {
                continue;
            }
            match load(&self.files, &self.provider, &files.0, &files.1) {
                Ok(pair) => {
                    *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = pair;
                    tracing::info!(cert = %self.files.cert.display(), "SMTP TLS certificate reloaded");
                }
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "SMTP TLS certificate changed but does not \
                    load; the previous one stays in use"
                ),
            }
            seen = files;
        }
    }
}

/// The two files' bytes.
fn read(files: &TlsFiles) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let cert = std::fs::read(&files.cert)
        .with_context(|| format!("reading {} {}", TlsFiles::cert_setting(), files.cert.display()))?;
    let key = std::fs::read(&files.key)
        .with_context(|| format!("reading {} {}", TlsFiles::key_setting(), files.key.display()))?;
    Ok((cert, key))
}

/// The pair in `cert` and `key` (PEM): a chain, and the private key of its first certificate.
fn load(files: &TlsFiles, provider: &CryptoProvider, cert: &[u8], key: &[u8]) -> anyhow::Result<Arc<CertifiedKey>> {
    let cert_setting = TlsFiles::cert_setting();
    let key_setting = TlsFiles::key_setting();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {cert_setting} {}", files.cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{cert_setting} {} holds no certificate", files.cert.display());
    let key =
        PrivateKeyDer::from_pem_slice(key).with_context(|| format!("reading {key_setting} {}", files.key.display()))?;
    let pair = CertifiedKey::from_der(chain, key, provider)
        .with_context(|| format!("{cert_setting} and {key_setting} do not make a usable certificate and key"))?;
    Ok(Arc::new(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).expect("params").self_signed(&key);
        (cert.expect("cert").pem(), key.serialize_pem())
    }

    #[test]
    fn a_pair_loads_only_when_the_key_is_the_certificates() {
        let files = TlsFiles { cert: "/c.pem".into(), key: "/k.pem".into() };
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let (cert, key) = pair("a.test");
        let (other_cert, _) = pair("b.test");
        assert!(load(&files, &provider, cert.as_bytes(), key.as_bytes()).is_ok());
        let err = load(&files, &provider, other_cert.as_bytes(), key.as_bytes()).expect_err("mismatch");
        assert!(format!("{err:#}").contains("MAILGATE_SMTP_TLS_CERT"), "{err:#}");
        assert!(load(&files, &provider, b"", key.as_bytes()).is_err());
        assert!(load(&files, &provider, cert.as_bytes(), b"not a key").is_err());
    }
}
