//! Settings for SMTP ingress: devices and legacy apps submit over SMTP with AUTH (app name + API key). Off unless a
//! listener is set.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use super::ConfigError;
use super::setting::{DefaultIs, settings};
use super::sources::{Raw, invalid, missing};

settings! {
    /// SMTP submission with STARTTLS, e.g. `0.0.0.0:587`; unset: no SMTP ([docs/smtp.md](docs/smtp.md))
    SMTP_LISTEN: SocketAddr = "smtp_listen", "MAILGATE_SMTP_LISTEN", DefaultIs::Unset(None);
    /// SMTP with implicit TLS, e.g. `0.0.0.0:465`; unset: none
    SMTPS_LISTEN: SocketAddr = "smtps_listen", "MAILGATE_SMTPS_LISTEN", DefaultIs::Unset(None);
    /// the certificate chain SMTP's TLS presents (a PEM file); required with an SMTP listener unless plaintext AUTH
    /// is allowed, and always with `MAILGATE_SMTPS_LISTEN`; read again when it changes
    SMTP_TLS_CERT: String = "smtp_tls_cert", "MAILGATE_SMTP_TLS_CERT", DefaultIs::Unset(None);
    /// its private key (a PEM file)
    SMTP_TLS_KEY: String = "smtp_tls_key", "MAILGATE_SMTP_TLS_KEY", DefaultIs::Unset(None);
    /// the name SMTP's greeting and EHLO answer give
    SMTP_HOSTNAME: String = "smtp_hostname", "MAILGATE_SMTP_HOSTNAME", DefaultIs::Value("mailgate");
    /// SMTP sessions open at once per process (1-100000); more are answered `421 4.7.0` and closed
    SMTP_MAX_CONNECTIONS: usize = "smtp_max_connections", "MAILGATE_SMTP_MAX_CONNECTIONS", DefaultIs::Value("1000");
    /// allow AUTH without TLS (a LAN segment or loopback only): STARTTLS is then not offered unless a certificate
    /// is set
    SMTP_ALLOW_PLAINTEXT_AUTH: bool = "smtp_allow_plaintext_auth", "MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH",
        DefaultIs::Value("false");
    /// the load balancers that put a PROXY protocol header (v1 or v2) before SMTP, as comma-separated addresses or
    /// networks (`10.0.0.0/8, 192.168.1.4`); a connection from one must start with the header, and its source
    /// address counts as the client's. Unset: none
    SMTP_PROXY_PROTOCOL_FROM: String = "smtp_proxy_protocol_from", "MAILGATE_SMTP_PROXY_PROTOCOL_FROM",
        DefaultIs::Unset(None);
}

/// The certificate and key files SMTP's TLS uses, as given (read by `smtp::tls` at start and when they change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// The settings that name the files, for errors about them.
    pub fn cert_setting() -> &'static str {
        SMTP_TLS_CERT.spec.env
    }

    pub fn key_setting() -> &'static str {
        SMTP_TLS_KEY.spec.env
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Submission with STARTTLS (when TLS files are set).
    pub listen: Option<SocketAddr>,
    /// Implicit TLS.
    pub tls_listen: Option<SocketAddr>,
    /// None only when plaintext AUTH is allowed and no implicit-TLS listener is set.
    pub tls: Option<TlsFiles>,
    pub hostname: String,
    pub max_connections: usize,
    pub allow_plaintext_auth: bool,
    /// Peers whose connections start with a PROXY protocol header.
    pub proxy_from: Vec<Network>,
}

/// An address or a network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, `192.168.1.4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("`{text}` is not an address or a network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in the network; an IPv4 address seen as IPv6 (`::ffff:10.0.0.1`, on a dual-stack
    /// listener) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip.to_canonical() {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
            IpAddr::V6(v6) => (u128::from(v6), false),
        };
        let ((net, net_v4), (ip, ip_v4)) = (bits(self.addr), bits(ip));
        if net_v4 != ip_v4 {
            return false;
        }
        let len = u32::from(self.prefix);
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        net & mask == ip & mask
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// SMTP is on when a listener is set; a listener then needs TLS files unless plaintext AUTH is allowed.
pub(super) fn smtp(raw: &Raw) -> Result<Option<SmtpSettings>, ConfigError> {
    let listen = raw.get(&SMTP_LISTEN)?;
    let tls_listen = raw.get(&SMTPS_LISTEN)?;
    if listen.is_none() && tls_listen.is_none() {
        return Ok(None);
    }
    let allow_plaintext_auth = raw.value(&SMTP_ALLOW_PLAINTEXT_AUTH)?;
    let cert = raw.get(&SMTP_TLS_CERT)?;
    let key = raw.get(&SMTP_TLS_KEY)?;
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.into(), key: key.into() }),
        (Some(_), None) => return Err(missing(&SMTP_TLS_KEY.spec)),
        (None, Some(_)) => return Err(missing(&SMTP_TLS_CERT.spec)),
        (None, None) if tls_listen.is_some() => {
            return Err(invalid(&SMTP_TLS_CERT.spec, "is required with MAILGATE_SMTPS_LISTEN (implicit TLS)"));
        }
        (None, None) if !allow_plaintext_auth => {
            return Err(invalid(
                &SMTP_TLS_CERT.spec,
                "is required with MAILGATE_SMTP_LISTEN, so that passwords travel under STARTTLS; set it and \
                 MAILGATE_SMTP_TLS_KEY, or MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH=true on a trusted network",
            ));
        }
        (None, None) => None,
    };
    let hostname = raw.value(&SMTP_HOSTNAME)?;
    if hostname.is_empty() || hostname.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(&SMTP_HOSTNAME.spec, "must be one host name, without spaces"));
    }
    let max_connections = raw.value(&SMTP_MAX_CONNECTIONS)?;
    if !(1..=100_000).contains(&max_connections) {
        return Err(invalid(&SMTP_MAX_CONNECTIONS.spec, "must be between 1 and 100000"));
    }
    let proxy_from = match raw.get(&SMTP_PROXY_PROTOCOL_FROM)? {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .filter(|item| !item.trim().is_empty())
            .map(|item| Network::parse(item.trim()))
            .collect::<Result<_, _>>()
            .map_err(|reason| invalid(&SMTP_PROXY_PROTOCOL_FROM.spec, reason))?,
    };
    Ok(Some(SmtpSettings { listen, tls_listen, tls, hostname, max_connections, allow_plaintext_auth, proxy_from }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{ConfigError, Settings};
    use super::Network;

    #[test]
    fn networks_hold_their_addresses() {
        let net = Network::parse("10.20.0.0/16").expect("network");
        assert!(net.contains("10.20.3.4".parse().expect("ip")));
        assert!(net.contains("::ffff:10.20.3.4".parse().expect("mapped ip")));
        assert!(!net.contains("10.21.0.1".parse().expect("ip")));
        assert!(!net.contains("::a14:304".parse().expect("v6 ip")));
        let one = Network::parse("192.168.1.4").expect("address");
        assert!(one.contains("192.168.1.4".parse().expect("ip")) && !one.contains("192.168.1.5".parse().expect("ip")));
        let v6 = Network::parse("2001:db8::/32").expect("v6");
        assert!(v6.contains("2001:db8:1::9".parse().expect("ip")) && !v6.contains("2001:db9::1".parse().expect("ip")));
        assert!(Network::parse("0.0.0.0/0").expect("all").contains("8.8.8.8".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129"] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
        let s = load(&[
            ("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"),
            ("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true"),
            ("MAILGATE_SMTP_PROXY_PROTOCOL_FROM", "10.0.0.0/8, 127.0.0.1"),
        ])
        .expect("loads")
        .smtp
        .expect("on");
        assert_eq!(s.proxy_from.len(), 2);
        let err = load(&[
            ("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"),
            ("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true"),
            ("MAILGATE_SMTP_PROXY_PROTOCOL_FROM", "10.0.0.0/40"),
        ])
        .expect_err("bad prefix");
        assert!(err.to_string().contains("MAILGATE_SMTP_PROXY_PROTOCOL_FROM"), "{err}");
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        map.insert("DATABASE_URL".to_owned(), "postgres://x/y".to_owned());
        Settings::from_sources(None, |name| map.get(name).cloned())
    }

    #[test]
    fn smtp_is_off_unless_a_listener_is_set() {
        assert_eq!(load(&[]).expect("loads").smtp, None);
        assert_eq!(load(&[("MAILGATE_SMTP_TLS_CERT", "/c.pem")]).expect("loads").smtp, None);
    }

    #[test]
    fn a_listener_needs_tls_unless_plaintext_auth_is_allowed() {
        let err = load(&[("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525")]).expect_err("no certificate");
        assert!(err.to_string().contains("MAILGATE_SMTP_TLS_CERT"), "{err}");
        let err = load(&[("MAILGATE_SMTPS_LISTEN", "127.0.0.1:4650"), ("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true")])
            .expect_err("implicit TLS without a certificate");
        assert!(err.to_string().contains("MAILGATE_SMTP_TLS_CERT"), "{err}");
        let err = load(&[("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"), ("MAILGATE_SMTP_TLS_CERT", "/c.pem")])
            .expect_err("no key");
        assert!(err.to_string().contains("MAILGATE_SMTP_TLS_KEY"), "{err}");
        let s = load(&[("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"), ("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true")])
            .expect("plaintext on a trusted network")
            .smtp
            .expect("on");
        assert_eq!((s.tls, s.max_connections, s.hostname.as_str()), (None, 1000, "mailgate"));
        let s = load(&[
            ("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"),
            ("MAILGATE_SMTPS_LISTEN", "127.0.0.1:4650"),
            ("MAILGATE_SMTP_TLS_CERT", "/c.pem"),
            ("MAILGATE_SMTP_TLS_KEY", "/k.pem"),
            ("MAILGATE_SMTP_HOSTNAME", "relay.contoso.test"),
            ("MAILGATE_SMTP_MAX_CONNECTIONS", "5"),
        ])
        .expect("loads")
        .smtp
        .expect("on");
        assert_eq!(s.tls.expect("tls").key, std::path::PathBuf::from("/k.pem"));
        assert_eq!((s.max_connections, s.hostname.as_str(), s.allow_plaintext_auth), (5, "relay.contoso.test", false));
        for (name, bad) in
            [("MAILGATE_SMTP_MAX_CONNECTIONS", "0"), ("MAILGATE_SMTP_HOSTNAME", "a b"), ("MAILGATE_SMTP_LISTEN", "x")]
        {
            let err = load(&[
                ("MAILGATE_SMTP_LISTEN", "127.0.0.1:2525"),
                ("MAILGATE_SMTP_ALLOW_PLAINTEXT_AUTH", "true"),
                (name, bad),
            ])
            .expect_err(bad);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
