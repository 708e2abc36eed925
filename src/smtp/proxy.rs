//! The PROXY protocol (HAProxy's v1 text and v2 binary header), parsed by `ppp`: a load balancer in front of
//! mailgate says who the client is before the SMTP session starts. Only peers in
//! `MAILGATE_SMTP_PROXY_PROTOCOL_FROM` are read this way; from anyone else the header is just a bad command.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ppp::HeaderResult;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a load balancer may take to send its header.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// v1's header is at most 107 octets; v2's fixed part is 16.
const V1_MAX: usize = 107;
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The shortest header of either version ("PROXY UNKNOWN\r\n" is 15): read first without reading past a header.
const PREFIX: usize = 12;

/// Why no client address came out of the header.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The connection did not start with a header, or it was malformed.
    Malformed,
    /// Nothing (or too little) arrived in time, or the connection closed.
    Silent,
}

/// Reads the header at the start of `io`, and not one byte more, so the session reads what follows. The client's
/// address is the header's source; a header that names none (v1 `UNKNOWN`, v2 `LOCAL`: the balancer's own health
/// check) leaves `peer`.
pub async fn read_header<S: AsyncRead + Unpin>(io: &mut S, peer: SocketAddr) -> Result<SocketAddr, Refused> {
    match tokio::time::timeout(HEADER_TIMEOUT, read(io)).await {
        Err(_) => Err(Refused::Silent),
        Ok(Err(refused)) => Err(refused),
        Ok(Ok(header)) => source(&header).map(|source| source.unwrap_or(peer)),
    }
}

async fn read<S: AsyncRead + Unpin>(io: &mut S) -> Result<Vec<u8>, Refused> {
    let mut header = vec![0u8; PREFIX];
    io.read_exact(&mut header).await.map_err(|_| Refused::Silent)?;
    if header.as_slice() == V2_SIGNATURE {
        let mut rest = [0u8; 4];
        io.read_exact(&mut rest).await.map_err(|_| Refused::Silent)?;
        header.extend_from_slice(&rest);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let start = header.len();
        header.resize(start + len, 0);
        io.read_exact(&mut header[start..]).await.map_err(|_| Refused::Silent)?;
        return Ok(header);
    }
    if !header.starts_with(b"PROXY ") {
        return Err(Refused::Malformed);
    }
    // v1 ends at CRLF: read a byte at a time, so nothing of the SMTP session is taken with it.
    while !header.ends_with(b"\r\n") {
        if header.len() >= V1_MAX {
            return Err(Refused::Malformed);
        }
        header.push(io.read_u8().await.map_err(|_| Refused::Silent)?);
    }
    Ok(header)
}

/// The source address `header` names; None for a header that names none.
fn source(header: &[u8]) -> Result<Option<SocketAddr>, Refused> {
    let socket = |ip: IpAddr, port: u16| Some(SocketAddr::new(ip, port));
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            ppp::v1::Addresses::Unknown => None,
            ppp::v1::Addresses::Tcp4(a) => socket(a.source_address.into(), a.source_port),
            ppp::v1::Addresses::Tcp6(a) => socket(a.source_address.into(), a.source_port),
        }),
        HeaderResult::V2(Ok(h)) => Ok(match (h.command, h.addresses) {
            (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv4(a)) => socket(a.source_address.into(), a.source_port),
            (ppp::v2::Command::Proxy, ppp::v2::Addresses::IPv6(a)) => socket(a.source_address.into(), a.source_port),
            // LOCAL, or a family without an IP address (a UNIX socket, unspecified).
            _ => None,
        }),
        HeaderResult::V1(Err(_)) | HeaderResult::V2(Err(_)) => Err(Refused::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    fn peer() -> SocketAddr {
        "10.0.0.1:40000".parse().expect("addr")
    }

    /// Reads a header out of `input` and returns the address and what is left for the session.
    async fn parse(input: &[u8]) -> (Result<SocketAddr, Refused>, Vec<u8>) {
        let mut io = input;
        let got = read_header(&mut io, peer()).await;
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.expect("rest");
        (got, rest)
    }

    fn v2(command: u8, family: u8, addresses: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x20 | command, family]);
        h.extend_from_slice(&u16::try_from(addresses.len()).expect("len").to_be_bytes());
        h.extend_from_slice(addresses);
        h
    }

    #[tokio::test]
    async fn v1_gives_the_source_and_leaves_the_session_alone() {
        let (got, rest) = parse(b"PROXY TCP4 192.0.2.7 10.0.0.5 51234 587\r\nEHLO x\r\n").await;
        assert_eq!(got, Ok("192.0.2.7:51234".parse().expect("addr")));
        assert_eq!(rest, b"EHLO x\r\n");
        let (got, _) = parse(b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 587\r\n").await;
        assert_eq!(got, Ok("[2001:db8::7]:51234".parse().expect("addr")));
        let (got, rest) = parse(b"PROXY UNKNOWN\r\nQUIT\r\n").await;
        assert_eq!((got, rest.as_slice()), (Ok(peer()), b"QUIT\r\n".as_slice()));
    }

    #[tokio::test]
    async fn v2_gives_the_source_and_leaves_the_session_alone() {
        let mut addresses = vec![198, 51, 100, 9, 10, 0, 0, 5];
        addresses.extend_from_slice(&4242u16.to_be_bytes());
        addresses.extend_from_slice(&587u16.to_be_bytes());
        let mut input = v2(1, 0x11, &addresses);
        input.extend_from_slice(b"EHLO x\r\n");
        let (got, rest) = parse(&input).await;
        assert_eq!(got, Ok("198.51.100.9:4242".parse().expect("addr")));
        assert_eq!(rest, b"EHLO x\r\n");
        // LOCAL: the balancer's own health check.
        let (got, rest) = parse(&v2(0, 0x00, &[])).await;
        assert_eq!((got, rest.len()), (Ok(peer()), 0));
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        assert_eq!(parse(b"EHLO printer\r\n").await.0, Err(Refused::Malformed));
        assert_eq!(parse(b"PROXY TCP4 nonsense here\r\n").await.0, Err(Refused::Malformed));
        assert_eq!(parse(format!("PROXY {}\r\n", "x".repeat(200)).as_bytes()).await.0, Err(Refused::Malformed));
        assert_eq!(parse(b"PROXY TCP4 192.0").await.0, Err(Refused::Silent));
        assert_eq!(parse(b"").await.0, Err(Refused::Silent));
        // A v2 header whose length says more than was sent.
        assert_eq!(parse(&v2(1, 0x11, &[1, 2, 3])[..15]).await.0, Err(Refused::Silent));
        assert_eq!(parse(&v2(1, 0x11, &[1, 2, 3])).await.0, Err(Refused::Malformed));
    }
}
