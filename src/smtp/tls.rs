//! TLS for SMTP (STARTTLS and implicit TLS) with rustls, from the PEM files the settings name.

use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The acceptor for `files`; an error names the setting whose file is at fault.
pub fn acceptor(files: &TlsFiles) -> anyhow::Result<TlsAcceptor> {
    let cert_setting = TlsFiles::cert_setting();
    let key_setting = TlsFiles::key_setting();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .with_context(|| format!("reading {cert_setting} {}", files.cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{cert_setting} {} holds no certificate", files.cert.display());
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .with_context(|| format!("reading {key_setting} {}", files.key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .with_context(|| format!("{cert_setting} and {key_setting} do not make a usable certificate and key"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
