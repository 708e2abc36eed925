//! SMTP ingress with real clients: Python's smtplib (STARTTLS with a CA this test makes, implicit TLS, AUTH PLAIN
//! and LOGIN), curl, and a device-like exchange over raw TCP; every refusal with its code; what reached Graph.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::support::seed::{ALLOWED, OUTSIDE};
use crate::support::server::{TestApp, spawn};
use crate::support::wait::poll;

/// A test CA and a certificate it signed for `localhost` and 127.0.0.1, as PEM files.
struct Certs {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn certs() -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "mailgate test CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &issuer).expect("certificate");
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write PEM");
        path
    };
    Certs {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", cert.pem()),
        key: write("key.pem", key.serialize_pem()),
        _dir: dir,
    }
}

/// The replies of one smtplib session, as `(step, code, text)`.
fn smtplib(cfg: Value, message: &[u8]) -> Vec<(String, u16, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/smtp/client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(cfg.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child.stdin.take().expect("stdin").write_all(message).expect("write message");
    let out = child.wait_with_output().expect("python3");
    assert!(out.status.success(), "smtplib failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a JSON line");
            (v[0].as_str().unwrap_or_default().to_owned(), v[1].as_u64().unwrap_or(0) as u16, v[2].to_string())
        })
        .collect()
}

/// The reply to `step` (the last one of that name).
fn reply(replies: &[(String, u16, String)], step: &str) -> (u16, String) {
    let (_, code, text) =
        replies.iter().rev().find(|(s, ..)| s == step).unwrap_or_else(|| panic!("no {step} in {replies:?}"));
    (*code, text.clone())
}

/// The message id in `250 2.0.0 Ok: queued as <id>`.
fn queued_id(text: &str) -> String {
    let (_, id) = text.split_once("queued as ").unwrap_or_else(|| panic!("not queued: {text}"));
    id.trim_matches(|c: char| c == '"' || c.is_whitespace()).to_owned()
}

fn host_port(addr: &str) -> (String, u16) {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("port"))
}

/// What the Graph simulator read out of the MIME of message `id`.
async fn delivered(app: &TestApp, id: &str) -> Value {
    let view = app.wait_final(id).await;
    assert_eq!(view["status"], "sent", "{view}");
    let arrivals = crate::support::graph_sim::arrivals(&app.sim);
    let got = arrivals.get(id).and_then(|a| a.last()).unwrap_or_else(|| panic!("{id} did not reach Graph"));
    got.body.clone()
}

fn session(app: &TestApp, certs: &Certs, mode: &str, extra: Value) -> Value {
    let addr = if mode == "implicit" { app.process.smtps.clone() } else { app.process.smtp.clone() };
    let (host, port) = host_port(&addr.expect("SMTP is on"));
    let mut cfg = json!({
        "host": host, "port": port, "mode": mode, "ca": certs.ca,
        "user": "logic-app", "password": app.demo.key, "from": ALLOWED, "to": ["someone@example.com"],
    });
    for (k, v) in extra.as_object().expect("object") {
        cfg[k] = v.clone();
    }
    cfg
}

#[sqlx::test]
async fn smtplib_and_curl_send_through_tls_and_every_refusal_has_its_code(pool: PgPool) {
    let certs = certs();
    let app = spawn().smtp(Some((&certs.cert, &certs.key))).start(pool).await;

    // STARTTLS and AUTH PLAIN; 8-bit UTF-8 in the subject and body, a dot-stuffed line, an envelope-only
    // recipient (Bcc) and a To address the client did not ask to deliver to.
    let message = "From: Notifications <notifications@contoso.test>\r\nTo: someone@example.com, \
                   not-asked@example.com\r\nSubject: Grüße – 日本\r\nMIME-Version: 1.0\r\n\
                   Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
                   X-Forefront-Antispam-Report: SCL:-1\r\n\r\nÜnïcödé ✓\r\n.leading dot\r\n..two dots\r\nend\r\n";
    let cfg = session(
        &app,
        &certs,
        "starttls",
        json!({"to": ["someone@example.com", "hidden@example.com"], "mail_options": ["BODY=8BITMIME", "SMTPUTF8"]}),
    );
    let replies = smtplib(cfg, message.as_bytes());
    let ehlo = &replies[0].2;
    for extension in ["PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 30", "STARTTLS"] {
        assert!(ehlo.contains(extension), "EHLO lacks {extension}: {ehlo}");
    }
    assert!(!ehlo.contains("AUTH"), "AUTH is offered only under TLS: {ehlo}");
    assert!(reply(&replies, "ehlo").1.contains("AUTH PLAIN LOGIN"), "{replies:?}");
    assert_eq!(reply(&replies, "auth").0, 235, "{replies:?}");
    let (code, text) = reply(&replies, "data");
    assert_eq!(code, 250, "{replies:?}");
    assert!(text.contains("2.0.0 Ok: queued as"), "{text}");
    let id = queued_id(&text);
    let got = delivered(&app, &id).await;
    assert_eq!(got["subject"], "Grüße – 日本", "{got}");
    let mime = got["mime"].as_str().expect("mime");
    assert!(mime.contains("Ünïcödé ✓\r\n.leading dot\r\n..two dots\r\nend"), "{mime}");
    assert!(!mime.contains("Forefront"), "{mime}");
    assert!(
        mime.contains("X-Mailgate-Original-To: someone@example.com, \r\n not-asked@example.com")
            || mime.contains("X-Mailgate-Original-To: someone@example.com,"),
        "{mime}"
    );
    assert_eq!(got["toRecipients"], json!([{"emailAddress": {"address": "someone@example.com"}}]), "{got}");
    assert_eq!(got["bccRecipients"], json!([{"emailAddress": {"address": "hidden@example.com"}}]), "{got}");
    let view = app.get_message(&id).await;
    assert_eq!((view["channel"].as_str(), view["source_address"].as_str()), (Some("smtp"), Some("127.0.0.1")));
    assert_eq!(view["recipients"], 2);

    // Implicit TLS and AUTH LOGIN with the classic prompts; no From header: it comes from the envelope.
    let cfg = session(&app, &certs, "implicit", json!({"mechanism": "LOGIN", "initial": false}));
    let replies = smtplib(cfg, b"Subject: No From\r\n\r\nbody\r\n");
    assert_eq!(reply(&replies, "auth").0, 235, "{replies:?}");
    let id = queued_id(&reply(&replies, "data").1);
    let got = delivered(&app, &id).await;
    assert!(got["mime"].as_str().expect("mime").starts_with("From: notifications@contoso.test\r\n"), "{got}");

    // curl, a second real client, over STARTTLS.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mail.txt");
    std::fs::write(
        &file,
        "From: notifications@contoso.test\r\nTo: curl@example.com\r\nSubject: From curl\r\n\r\nHi\r\n",
    )
    .expect("write");
    let (_, port) = host_port(app.process.smtp.as_deref().expect("smtp"));
    let out = Command::new("curl")
        .args(["-sS", "-v", "--ssl-reqd", "--cacert"])
        .arg(&certs.ca)
        .arg(format!("smtp://127.0.0.1:{port}"))
        .args(["--mail-from", ALLOWED, "--mail-rcpt", "curl@example.com", "--user"])
        .arg(format!("logic-app:{}", app.demo.key))
        .arg("--upload-file")
        .arg(&file)
        .output()
        .expect("run curl");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "curl failed: {log}");
    let queued = log.lines().find(|l| l.contains("queued as")).unwrap_or_else(|| panic!("{log}"));
    let got = delivered(&app, &queued_id(queued)).await;
    assert_eq!(got["subject"], "From curl");

    // The refusals, each with its code.
    let refused = |extra: Value, message: &str| smtplib(session(&app, &certs, "starttls", extra), message.as_bytes());
    let plain = "From: notifications@contoso.test\r\nSubject: x\r\n\r\nx\r\n";
    // AUTH before STARTTLS.
    let (host, port) = host_port(app.process.smtp.as_deref().expect("smtp"));
    let cfg = json!({"host": host, "port": port, "mode": "plain", "user": "logic-app", "password": app.demo.key,
                     "from": ALLOWED, "to": ["a@example.com"]});
    let (code, text) = reply(&smtplib(cfg, plain.as_bytes()), "auth");
    assert_eq!((code, text.contains("5.7.0 Must issue a STARTTLS command first")), (530, true), "{text}");
    // MAIL without AUTH.
    let cfg = json!({"host": host, "port": port, "mode": "starttls", "ca": certs.ca, "from": ALLOWED,
                     "to": ["a@example.com"]});
    let (code, text) = reply(&smtplib(cfg, plain.as_bytes()), "mail");
    assert_eq!((code, text.contains("5.7.0 Authentication required")), (530, true), "{text}");
    // A wrong password, and another app's valid key under this app's name.
    let (code, text) = reply(&refused(json!({"password": "mg_nope"}), plain), "auth");
    assert_eq!((code, text.contains("5.7.8")), (535, true), "{text}");
    let other = crate::support::seed::other_app(&app.pool, "other-app").await;
    let (code, _) = reply(&refused(json!({"password": other}), plain), "auth");
    assert_eq!(code, 535);
    // A sender the allowlist denies: refused at MAIL FROM, with the reason, and recorded as denied.
    let (code, text) = reply(&refused(json!({"from": OUTSIDE}), plain), "mail");
    assert_eq!((code, text.contains("5.7.1")), (550, true), "{text}");
    assert!(text.contains("logic-app"), "the reason names the app: {text}");
    // The null sender.
    let (code, text) = reply(&refused(json!({"from": ""}), plain), "mail");
    assert_eq!((code, text.contains("5.7.1")), (550, true), "{text}");
    // A header From of another mailbox.
    let (code, text) = reply(&refused(json!({}), "From: ceo@contoso.test\r\nSubject: x\r\n\r\nx\r\n"), "data");
    assert_eq!(code, 550, "{text}");
    assert!(text.contains("ceo@contoso.test") && text.contains(ALLOWED), "{text}");
    // Too big, announced.
    let (code, text) = reply(&refused(json!({"mail_options": ["SIZE=99999999"]}), plain), "mail");
    assert_eq!((code, text.contains("5.3.4")), (552, true), "{text}");

    let denied: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE status = 'denied' AND channel = 'smtp'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(denied, 1, "the denied sender is recorded as HTTP records one");
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE outcome = 'unauthenticated' AND detail LIKE 'SMTP AUTH%'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(failures, 2, "failed AUTHs are audited");
}

/// A device on a trusted segment: plaintext AUTH LOGIN with the prompts, pipelined commands, bare LF line endings.
#[sqlx::test]
async fn a_device_pipelines_with_bare_lf_and_login_prompts(pool: PgPool) {
    let app = spawn().smtp(None).env("MAILGATE_MAX_MESSAGE_BYTES", "20000").start(pool).await;
    let addr = app.process.smtp.clone().expect("smtp");
    let mut tcp = TcpStream::connect(&addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut reader = BufReader::new(tcp.try_clone().expect("clone"));
    let mut line = || {
        let mut l = String::new();
        reader.read_line(&mut l).expect("read a reply");
        l
    };
    assert!(line().starts_with("220 "));
    tcp.write_all(b"EHLO scanner\n").expect("write");
    let mut ehlo = Vec::new();
    loop {
        let l = line();
        ehlo.push(l.clone());
        if l.starts_with("250 ") {
            break;
        }
    }
    let ehlo = ehlo.concat();
    assert!(ehlo.contains("AUTH PLAIN LOGIN") && !ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("SIZE 20000"), "the size that can be delivered: {ehlo}");
    tcp.write_all(b"AUTH LOGIN\n").expect("write");
    assert_eq!(line(), "334 VXNlcm5hbWU6\r\n");
    tcp.write_all(format!("{}\n", STANDARD.encode("logic-app")).as_bytes()).expect("write");
    assert_eq!(line(), "334 UGFzc3dvcmQ6\r\n");
    tcp.write_all(format!("{}\n", STANDARD.encode(&app.demo.key)).as_bytes()).expect("write");
    assert!(line().starts_with("235 2.7.0"));
    // Everything at once, as devices that never read EHLO do.
    let pipelined = format!(
        "MAIL FROM:<{ALLOWED}>\nRCPT TO:<scan@example.com>\nDATA\nSubject: Scan\n\n..hidden dot\nPage 1\n.\n\
         MAIL FROM:<{ALLOWED}>\nRCPT TO:<scan@example.com>\nDATA\n"
    );
    tcp.write_all(pipelined.as_bytes()).expect("write");
    assert!(line().starts_with("250 2.1.0"));
    assert!(line().starts_with("250 2.1.5"));
    assert!(line().starts_with("354 "));
    let queued = line();
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    assert!(line().starts_with("250 2.1.0"));
    assert!(line().starts_with("250 2.1.5"));
    assert!(line().starts_with("354 "));
    // Too big for what can be delivered: read to its end, then refused.
    let big = format!("Subject: Big\r\n\r\n{}.\r\n", format!("{}\r\n", "x".repeat(996)).repeat(25));
    tcp.write_all(big.as_bytes()).expect("write");
    let l = line();
    assert!(l.starts_with("552 5.3.4"), "{l}");
    tcp.write_all(b"MAIL FROM:<>\r\nQUIT\r\n").expect("write");
    assert!(line().starts_with("550 5.7.1"));
    assert!(line().starts_with("221 2.0.0"));
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);

    let id = queued_id(&queued);
    let got = delivered(&app, &id).await;
    let mime = got["mime"].as_str().expect("mime");
    assert!(mime.contains("Subject: Scan\r\n"), "{mime}");
    assert!(mime.contains("\r\n\r\n.hidden dot\r\nPage 1\r\n"), "bare LF read as CRLF, the dot restored: {mime}");
    assert_eq!(got["bccRecipients"], json!([{"emailAddress": {"address": "scan@example.com"}}]), "{got}");
    let view = poll("the view", Duration::from_secs(5), || async { Some(app.get_message(&id).await) }).await;
    assert_eq!(view["channel"], "smtp");
}

/// SIGTERM: an idle session is told 421 at once; one in a transaction finishes it (250) and is then told 421.
#[sqlx::test]
async fn shutdown_finishes_the_transaction_then_answers_421(pool: PgPool) {
    let app = spawn().smtp(None).start(pool).await;
    let addr = app.process.smtp.clone().expect("smtp");
    let open = |auth: bool| {
        let mut tcp = TcpStream::connect(&addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut reader = BufReader::new(tcp.try_clone().expect("clone"));
        let mut greeting = String::new();
        reader.read_line(&mut greeting).expect("greeting");
        tcp.write_all(b"HELO device\r\n").expect("write");
        let mut l = String::new();
        reader.read_line(&mut l).expect("helo");
        if auth {
            let plain = STANDARD.encode(format!("\0logic-app\0{}", app.demo.key));
            tcp.write_all(format!("AUTH PLAIN {plain}\r\nMAIL FROM:<{ALLOWED}>\r\n").as_bytes()).expect("write");
        }
        (tcp, reader)
    };
    let read = |reader: &mut BufReader<TcpStream>| {
        let mut l = String::new();
        reader.read_line(&mut l).expect("read a reply");
        l
    };
    let (_idle, mut idle_reader) = open(false);
    let (mut busy, mut busy_reader) = open(true);
    assert!(read(&mut busy_reader).starts_with("235 "));
    assert!(read(&mut busy_reader).starts_with("250 2.1.0"));

    app.process.terminate();
    let l = read(&mut idle_reader);
    assert!(l.starts_with("421 4.3.2"), "the idle session is closed: {l}");
    busy.write_all(b"RCPT TO:<late@example.com>\r\nDATA\r\n").expect("write");
    assert!(read(&mut busy_reader).starts_with("250 2.1.5"));
    assert!(read(&mut busy_reader).starts_with("354 "));
    busy.write_all(b"Subject: Last one\r\n\r\nbody\r\n.\r\n").expect("write");
    let queued = read(&mut busy_reader);
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");
    let l = read(&mut busy_reader);
    assert!(l.starts_with("421 4.3.2"), "then closed: {l}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE id = $1::uuid")
        .bind(queued_id(&queued))
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);
}

/// A connection to `addr` from the loopback address `from` (Linux answers for all of 127.0.0.0/8).
async fn connect_from(from: &str, addr: &str) -> (TcpStream, BufReader<TcpStream>) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{from}:0").parse().expect("from")).expect("bind");
    let tcp = socket.connect(addr.parse().expect("addr")).await.expect("connect").into_std().expect("std");
    tcp.set_nonblocking(false).expect("blocking");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let reader = BufReader::new(tcp.try_clone().expect("clone"));
    (tcp, reader)
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut reply = String::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).expect("read a reply");
        reply.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return reply;
        }
    }
}

/// One message over a connection that starts with `header`; the id it was queued as.
async fn send_behind_proxy(app: &TestApp, header: &[u8]) -> String {
    let (mut tcp, mut reader) = connect_from("127.0.0.2", app.process.smtp.as_deref().expect("smtp")).await;
    tcp.write_all(header).expect("write");
    assert!(read_reply(&mut reader).starts_with("220 "));
    let plain = STANDARD.encode(format!("\0logic-app\0{}", app.demo.key));
    tcp.write_all(format!("EHLO lb-test\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<{ALLOWED}>\r\n").as_bytes())
        .expect("write");
    assert!(read_reply(&mut reader).starts_with("250-"));
    assert!(read_reply(&mut reader).starts_with("235 "));
    assert!(read_reply(&mut reader).starts_with("250 2.1.0"));
    tcp.write_all(b"RCPT TO:<a@example.com>\r\nDATA\r\n").expect("write");
    assert!(read_reply(&mut reader).starts_with("250 2.1.5"));
    assert!(read_reply(&mut reader).starts_with("354 "));
    tcp.write_all(b"Subject: Behind a balancer\r\n\r\nbody\r\n.\r\nQUIT\r\n").expect("write");
    let queued = read_reply(&mut reader);
    assert!(queued.starts_with("250 2.0.0"), "{queued}");
    queued_id(&queued)
}

/// Behind a load balancer: its PROXY header (v1 or v2) names the client, whose address the message records;
/// a trusted peer without one is closed, and anyone else's header is a bad command.
#[sqlx::test]
async fn the_proxy_protocol_names_the_client_behind_a_balancer(pool: PgPool) {
    let app = spawn().smtp(None).env("MAILGATE_SMTP_PROXY_PROTOCOL_FROM", "127.0.0.2/32").start(pool).await;

    let id = send_behind_proxy(&app, b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 2525\r\n").await;
    let view = app.get_message(&id).await;
    assert_eq!((view["channel"].as_str(), view["source_address"].as_str()), (Some("smtp"), Some("192.0.2.7")));

    // v2, binary: PROXY command, TCP over IPv6, 2001:db8::7 port 4242 to ::1 port 2525.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(&"2001:db8::7".parse::<std::net::Ipv6Addr>().expect("ip").octets());
    v2.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    v2.extend_from_slice(&[0x10, 0x92, 0x09, 0xe5]);
    let id = send_behind_proxy(&app, &v2).await;
    let view = app.get_message(&id).await;
    assert_eq!(view["source_address"].as_str(), Some("2001:db8::7"), "{view}");

    // The balancer's peer without a header: closed, no greeting.
    let smtp = app.process.smtp.clone().expect("smtp");
    let (mut tcp, mut reader) = connect_from("127.0.0.2", &smtp).await;
    tcp.write_all(b"EHLO direct\r\n").expect("write");
    let l = read_reply(&mut reader);
    assert!(l.starts_with("421 4.7.0"), "{l}");
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    assert!(rest.is_empty());

    // Anyone else sending a header: an unknown command, and the session goes on with its own address.
    let (mut tcp, mut reader) = connect_from("127.0.0.1", &smtp).await;
    assert!(read_reply(&mut reader).starts_with("220 "));
    tcp.write_all(b"PROXY TCP4 192.0.2.8 127.0.0.1 51234 2525\r\nQUIT\r\n").expect("write");
    let l = read_reply(&mut reader);
    assert!(l.starts_with("500 5.5.1"), "{l}");
    assert!(read_reply(&mut reader).starts_with("221 "));
}

/// The certificate a new STARTTLS session is shown, as the base64 of its DER.
fn presented(app: &TestApp) -> String {
    let (host, port) = host_port(app.process.smtp.as_deref().expect("smtp"));
    let cfg = json!({"host": host, "port": port, "mode": "starttls", "peer_cert": true, "from": ALLOWED, "to": []});
    reply(&smtplib(cfg, b""), "peer_cert").1.trim_matches('"').to_owned()
}

/// A PEM file's body on one line: the base64 of the DER.
fn pem_body(path: &Path) -> String {
    std::fs::read_to_string(path).expect("PEM").lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Points the `..data` symlink in `dir` at `target`, atomically, as Kubernetes updates a mounted secret.
fn swap(dir: &Path, target: &Path) {
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(target, &tmp).expect("symlink");
    std::fs::rename(&tmp, dir.join("..data")).expect("swap");
}

/// A rotated certificate (a symlink swap, as cert-manager's secret or a Key Vault CSI mount does it) is presented
/// to new sessions; a pair that does not load keeps the one in use.
#[sqlx::test]
async fn a_rotated_certificate_is_presented_to_new_sessions(pool: PgPool) {
    let (first, second) = (certs(), certs());
    let mount = tempfile::tempdir().expect("tempdir");
    let dir = mount.path();
    let version = |name: &str, certs: &Certs, key: &Path| {
        let v = dir.join(name);
        std::fs::create_dir(&v).expect("dir");
        std::fs::copy(&certs.cert, v.join("tls.crt")).expect("copy");
        std::fs::copy(key, v.join("tls.key")).expect("copy");
        v
    };
    let v1 = version("v1", &first, &first.key);
    let mismatched = version("v2", &second, &first.key);
    let v3 = version("v3", &second, &second.key);
    std::os::unix::fs::symlink(&v1, dir.join("..data")).expect("symlink");
    std::os::unix::fs::symlink("..data/tls.crt", dir.join("tls.crt")).expect("symlink");
    std::os::unix::fs::symlink("..data/tls.key", dir.join("tls.key")).expect("symlink");
    let app = spawn().smtp(Some((&dir.join("tls.crt"), &dir.join("tls.key")))).start(pool).await;
    assert_eq!(presented(&app), pem_body(&first.cert));

    // A certificate without its key: refused once mailgate has looked at it (its warning), the first one stays.
    swap(dir, &mismatched);
    poll("the warning that the new pair does not load", Duration::from_secs(20), || async {
        app.logs().contains("SMTP TLS certificate changed but does not load").then_some(())
    })
    .await;
    assert_eq!(presented(&app), pem_body(&first.cert), "a pair that does not load is not taken");

    swap(dir, &v3);
    let want = pem_body(&second.cert);
    poll("the new certificate", Duration::from_secs(20), || async {
        let got = presented(&app);
        (got == want).then_some(())
    })
    .await;
}

/// `250` after DATA means stored: with Graph answering 503 (the message still queued), a `kill -9` right after it
/// loses nothing, and the mailgate started again on the same database delivers it once Graph takes it, exactly once.
#[sqlx::test]
async fn a_kill_9_after_250_loses_nothing_and_sends_once(pool: PgPool) {
    use graph_sim::{Fault, ScriptedFault};

    use crate::support::graph_sim::received_by_message;

    let mut app = spawn().smtp(None).env("MAILGATE_MAX_ATTEMPTS", "50").start(pool).await;
    let unavailable = Fault::Unavailable { retry_after_secs: Some(2) };
    app.sim.sim.add_scripted_faults(ALLOWED, vec![ScriptedFault::times(unavailable, 1_000)]);

    let (mut tcp, mut reader) = connect_from("127.0.0.1", app.process.smtp.as_deref().expect("smtp")).await;
    assert!(read_reply(&mut reader).starts_with("220 "));
    let plain = STANDARD.encode(format!("\0logic-app\0{}", app.demo.key));
    let session = format!(
        "EHLO device\r\nAUTH PLAIN {plain}\r\nMAIL FROM:<{ALLOWED}>\r\nRCPT TO:<once@example.com>\r\nDATA\r\n\
         Subject: Exactly once\r\n\r\nbody\r\n.\r\n"
    );
    tcp.write_all(session.as_bytes()).expect("write");
    for _ in 0..5 {
        read_reply(&mut reader);
    }
    let queued = read_reply(&mut reader);
    assert!(queued.starts_with("250 2.0.0"), "{queued}");
    let id = queued_id(&queued);
    // Killed once Graph's first 503 is recorded: the message waits for its retry and nothing is in flight (a send
    // in flight at the kill ends `unknown`, as on HTTP; not this test's subject).
    poll("Graph's first 503 recorded", Duration::from_secs(10), || async {
        let view = app.get_message(&id).await;
        TestApp::outcomes(&view).contains(&"unavailable".to_owned()).then_some(())
    })
    .await;
    app.process.kill();
    drop(tcp);
    let before = received_by_message(&app.sim).remove(&id).unwrap_or_default();
    assert!(before.iter().all(|s| *s == Some(503)), "nothing was accepted before the kill: {before:?}");

    // Graph takes messages again; a new process on the same database.
    app.sim.sim.reset();
    app.restart();
    let done = app.wait_final(&id).await;
    assert_eq!(done["status"], "sent", "{done}");
    assert_eq!(done["channel"], "smtp");
    let after = received_by_message(&app.sim).remove(&id).unwrap_or_default();
    assert_eq!(after, [Some(202)], "delivered exactly once");
    let arrivals = crate::support::graph_sim::arrivals(&app.sim);
    assert_eq!(arrivals.get(&id).map(Vec::len), Some(1));
}
