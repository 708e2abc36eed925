//! Loading settings: defaults, the file, the environment, and errors that name the setting.
use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Settings::from_sources(None, |name| map.get(name).cloned())
}

#[test]
fn defaults_need_only_the_database() {
    let s = load(&[("DATABASE_URL", "postgres://x/y")]).expect("loads");
    assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.graph.url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(s.credential.kind, CredentialKind::ManagedIdentity { client_id: None });
    assert_eq!(s.limits.max_message_bytes, 36_700_160);
}

#[test]
fn the_body_limit_is_what_can_be_delivered() {
    // Without large messages nothing over Graph's 4 MB request is ever sent, so a larger body is never read.
    let s = load(&[("DATABASE_URL", "x")]).expect("loads");
    assert_eq!(s.http.max_body_bytes, 5 * 1024 * 1024);
    // With them, the largest message in base64 JSON and room for the rest.
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_LARGE_MESSAGES", "true")]).expect("loads");
    assert_eq!(s.http.max_body_bytes, 36_700_160_usize.div_ceil(3) * 4 + 1024 * 1024);
}

#[test]
fn the_body_limit_follows_the_message_limit_unless_set() {
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_MAX_MESSAGE_BYTES", "3000000")]).expect("loads");
    assert_eq!(s.http.max_body_bytes, 4_000_000 + 1024 * 1024);
    let s =
        load(&[("DATABASE_URL", "x"), ("MAILGATE_MAX_MESSAGE_BYTES", "3000000"), ("MAILGATE_MAX_BODY_BYTES", "5000")])
            .expect("loads");
    assert_eq!(s.http.max_body_bytes, 5000);
    for bad in ["12", "200000000", "lots"] {
        let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_MAX_MESSAGE_BYTES", bad)]).expect_err(bad);
        assert!(err.to_string().contains("MAILGATE_MAX_MESSAGE_BYTES"), "{err}");
    }
}

#[test]
fn errors_name_the_setting() {
    let err = load(&[]).expect_err("missing database");
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_LISTEN", "nope")]).expect_err("bad listen");
    assert!(err.to_string().contains("MAILGATE_LISTEN"), "{err}");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_CREDENTIAL", "password")]).expect_err("bad credential");
    assert!(err.to_string().contains("MAILGATE_CREDENTIAL"), "{err}");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_CREDENTIAL", "client-secret")])
        .expect_err("client secret needs a tenant");
    assert!(err.to_string().contains("MAILGATE_TENANT_ID"), "{err}");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_GRAPH_URL", "ftp://graph")]).expect_err("bad scheme");
    assert!(err.to_string().contains("MAILGATE_GRAPH_URL"), "{err}");
}

#[test]
fn entra_needs_a_guid_tenant_and_an_audience() {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    assert!(load(&[("DATABASE_URL", "x")]).expect("loads").entra.is_none());
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_ENTRA_TENANT_ID", tenant)]).expect_err("audience");
    assert!(err.to_string().contains("MAILGATE_ENTRA_AUDIENCES"), "{err}");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_ENTRA_TENANT_ID", "contoso")]).expect_err("guid");
    assert!(err.to_string().contains("MAILGATE_ENTRA_TENANT_ID"), "{err}");
    let s = load(&[
        ("DATABASE_URL", "x"),
        ("MAILGATE_ENTRA_TENANT_ID", tenant),
        ("MAILGATE_ENTRA_AUDIENCES", "api://mailgate, 11111111-2222-3333-4444-555555555555"),
    ])
    .expect("loads");
    let e = s.entra.expect("entra");
    assert_eq!(e.audiences.len(), 2);
    assert_eq!(e.allowed_tenants, vec![tenant.to_owned()]);
}

#[test]
fn file_values_are_overridden_by_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mailgate.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:9000\"\nworkers = 3\ndatabase_url = \"postgres://f/f\"\n")
        .expect("write");
    let s = Settings::from_sources(Some(&path), |name| (name == "MAILGATE_WORKERS").then(|| "5".to_owned()))
        .expect("loads");
    assert_eq!(s.http.listen.port(), 9000);
    assert_eq!(s.delivery.workers, 5);
    std::fs::write(&path, "lisen = \"x\"\n").expect("write");
    let err = Settings::from_sources(Some(&path), |_| None).expect_err("typo refused");
    assert!(err.to_string().contains("lisen"), "{err}");
}

#[test]
fn debug_never_shows_the_client_secret() {
    let s = load(&[
        ("DATABASE_URL", "postgres://u:pw@h/d"),
        ("MAILGATE_CREDENTIAL", "client-secret"),
        ("MAILGATE_TENANT_ID", "t"),
        ("MAILGATE_CLIENT_ID", "c"),
        ("MAILGATE_CLIENT_SECRET", "hunter2"),
    ])
    .expect("loads");
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("pw@"), "{shown}");
}

#[test]
fn migrations_use_their_own_url_else_the_database_url() {
    let s = load(&[("DATABASE_URL", "postgres://service@db/mailgate")]).expect("loads");
    assert_eq!(s.migration_url(), ("postgres://service@db/mailgate", "DATABASE_URL".to_owned()));
    let s = load(&[
        ("DATABASE_URL", "postgres://service@db/mailgate"),
        ("MAILGATE_MIGRATION_DATABASE_URL", "postgres://owner@db/mailgate"),
    ])
    .expect("loads");
    assert_eq!(s.migration_url(), ("postgres://owner@db/mailgate", "MAILGATE_MIGRATION_DATABASE_URL".to_owned()));
    assert!(!format!("{s:?}").contains("owner@"), "the URL may hold a password: {s:?}");
}

#[test]
fn listen_has_its_own_url_only_when_set_and_it_is_passwordless_under_entra() {
    assert!(load(&[("DATABASE_URL", "postgres://svc@pooler:6432/m")]).expect("loads").db.listen_url.is_none());
    let s = load(&[
        ("DATABASE_URL", "postgres://svc@pooler:6432/m"),
        ("MAILGATE_LISTEN_DATABASE_URL", "postgres://svc@db:5432/m"),
    ])
    .expect("loads");
    assert_eq!(s.db.listen_url.as_ref().map(ExposeSecret::expose_secret), Some("postgres://svc@db:5432/m"));
    assert!(!format!("{s:?}").contains("db:5432"), "the URL may hold a password: {s:?}");
    let err = load(&[
        ("DATABASE_URL", "postgres://svc@pooler:6432/m"),
        ("MAILGATE_DB_AUTH", "entra"),
        ("MAILGATE_LISTEN_DATABASE_URL", "postgres://svc:pw@db:5432/m"),
    ])
    .expect_err("a password under entra");
    assert!(err.to_string().contains("MAILGATE_LISTEN_DATABASE_URL"), "{err}");
}

#[test]
fn the_lease_follows_the_graph_timeout_unless_set() {
    let s = load(&[("DATABASE_URL", "x")]).expect("loads");
    assert_eq!((s.graph.timeout.as_secs(), s.delivery.lease.as_secs()), (30, 60));
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_GRAPH_TIMEOUT_SECS", "10")]).expect("loads");
    assert_eq!(s.delivery.lease.as_secs(), 20);
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_LEASE_SECS", "45")]).expect("loads");
    assert_eq!(s.delivery.lease.as_secs(), 45);
    for (timeout, lease, named) in [("30", "30", "MAILGATE_LEASE_SECS"), ("0", "10", "MAILGATE_GRAPH_TIMEOUT_SECS")] {
        let err =
            load(&[("DATABASE_URL", "x"), ("MAILGATE_GRAPH_TIMEOUT_SECS", timeout), ("MAILGATE_LEASE_SECS", lease)])
                .expect_err("refused");
        assert!(err.to_string().contains(named), "{err}");
    }
}

#[test]
fn database_auth_is_the_password_unless_entra_is_chosen() {
    let s = load(&[("DATABASE_URL", "postgres://svc:pw@db/mailgate")]).expect("loads");
    assert_eq!(s.db.auth, DbAuth::Password);
    let s = load(&[("DATABASE_URL", "postgres://svc@db/mailgate"), ("MAILGATE_DB_AUTH", "entra")]).expect("loads");
    assert_eq!(s.db.auth, DbAuth::Entra { scope: DEFAULT_DB_SCOPE.to_owned() });
    let s = load(&[
        ("DATABASE_URL", "postgres://svc@db/mailgate"),
        ("MAILGATE_DB_AUTH", "entra"),
        ("MAILGATE_DB_SCOPE", "https://ossrdbms-aad.database.usgovcloudapi.net/.default"),
    ])
    .expect("loads");
    assert_eq!(s.db.auth, DbAuth::Entra { scope: "https://ossrdbms-aad.database.usgovcloudapi.net/.default".into() });
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_DB_AUTH", "kerberos")]).expect_err("unknown kind");
    assert!(err.to_string().contains("MAILGATE_DB_AUTH") && err.to_string().contains("kerberos"), "{err}");
}

#[test]
fn entra_database_auth_refuses_urls_with_a_password_or_without_a_user() {
    let entra = |url: &'static str, migration: Option<&'static str>| {
        let mut pairs = vec![("DATABASE_URL", url), ("MAILGATE_DB_AUTH", "entra")];
        pairs.extend(migration.map(|m| ("MAILGATE_MIGRATION_DATABASE_URL", m)));
        load(&pairs)
    };
    let err = entra("postgres://svc:secret@db/mailgate", None).expect_err("password under entra");
    let text = err.to_string();
    assert!(text.starts_with("setting DATABASE_URL (database_url) is invalid: holds a password"), "{text}");
    assert!(!text.contains("secret"), "the error must not repeat the password: {text}");
    let err = entra("postgres://svc@db/mailgate", Some("postgres://owner:pw@db/mailgate")).expect_err("owner password");
    assert!(err.to_string().contains("MAILGATE_MIGRATION_DATABASE_URL"), "{err}");
    let err = entra("postgres://db/mailgate", None).expect_err("no user");
    assert!(err.to_string().contains("names no user"), "{err}");
    let err = entra("host=db user=svc", None).expect_err("not a URL");
    assert!(err.to_string().contains("postgres:// URL"), "{err}");
}

#[test]
fn the_metrics_series_cap_defaults_to_1000_and_is_bounded() {
    assert_eq!(load(&[("DATABASE_URL", "x")]).expect("loads").telemetry.metrics_max_series, 1000);
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_METRICS_MAX_SERIES", "50")]).expect("loads");
    assert_eq!(s.telemetry.metrics_max_series, 50);
    for bad in ["0", "9", "100001", "many"] {
        let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_METRICS_MAX_SERIES", bad)]).expect_err(bad);
        assert!(err.to_string().contains("MAILGATE_METRICS_MAX_SERIES"), "{err}");
    }
}

#[test]
fn the_audit_seal_interval_defaults_to_5_seconds_and_is_bounded() {
    let s = load(&[("DATABASE_URL", "x")]).expect("loads");
    assert_eq!(s.retention.audit_seal_interval, std::time::Duration::from_secs(5));
    let s = load(&[("DATABASE_URL", "x"), ("MAILGATE_AUDIT_SEAL_SECS", "1")]).expect("loads");
    assert_eq!(s.retention.audit_seal_interval, std::time::Duration::from_secs(1));
    for bad in ["0", "3601", "-1", "soon"] {
        let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_AUDIT_SEAL_SECS", bad)]).expect_err(bad);
        assert!(err.to_string().contains("MAILGATE_AUDIT_SEAL_SECS"), "{err}");
    }
}

#[test]
fn a_cloud_sets_the_defaults_of_the_authority_graph_and_the_database_scope() {
    let entra =
        [("MAILGATE_ENTRA_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"), ("MAILGATE_ENTRA_AUDIENCES", "x")];
    let with = |more: &[(&'static str, &'static str)]| {
        let mut all = vec![("DATABASE_URL", "postgres://svc@db/m"), ("MAILGATE_DB_AUTH", "entra")];
        all.extend_from_slice(&entra);
        all.extend_from_slice(more);
        load(&all).expect("loads")
    };
    for (cloud, authority, graph, db) in [
        ("public", "https://login.microsoftonline.com/", "https://graph.microsoft.com/", DEFAULT_DB_SCOPE),
        (
            "usgov",
            "https://login.microsoftonline.us/",
            "https://graph.microsoft.us/",
            "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
        ),
        (
            "usgovdod",
            "https://login.microsoftonline.us/",
            "https://dod-graph.microsoft.us/",
            "https://ossrdbms-aad.database.usgovcloudapi.net/.default",
        ),
        (
            "china",
            "https://login.chinacloudapi.cn/",
            "https://microsoftgraph.chinacloudapi.cn/",
            "https://ossrdbms-aad.database.chinacloudapi.cn/.default",
        ),
    ] {
        let s = with(&[("MAILGATE_CLOUD", cloud)]);
        assert_eq!(s.entra.as_ref().expect("entra").authority_host.as_str(), authority, "{cloud}");
        assert_eq!(s.graph.url.as_str(), graph, "{cloud}");
        assert_eq!(s.graph.scope, format!("{}.default", graph), "{cloud}");
        assert_eq!(s.db.auth, DbAuth::Entra { scope: db.to_owned() }, "{cloud}");
        // The SDK's own default (AZURE_AUTHORITY_HOST, else public) stays in the public cloud unless set.
        let expected = (cloud != "public").then_some(authority);
        assert_eq!(s.credential.authority.as_ref().map(|u| u.as_str()), expected, "{cloud}");
    }
    assert_eq!(with(&[]).graph.url.as_str(), "https://graph.microsoft.com/");

    // A setting given explicitly wins over its cloud's default.
    let s = with(&[
        ("MAILGATE_CLOUD", "usgov"),
        ("MAILGATE_GRAPH_URL", "http://127.0.0.1:9"),
        ("MAILGATE_GRAPH_SCOPE", "api://graph/.default"),
        ("MAILGATE_DB_SCOPE", "api://db/.default"),
        ("MAILGATE_ENTRA_AUTHORITY_HOST", "https://login.example.test"),
    ]);
    assert_eq!(s.graph.url.as_str(), "http://127.0.0.1:9/");
    assert_eq!(s.graph.scope, "api://graph/.default");
    assert_eq!(s.db.auth, DbAuth::Entra { scope: "api://db/.default".into() });
    assert_eq!(s.entra.as_ref().expect("entra").authority_host.as_str(), "https://login.example.test/");
    assert_eq!(s.credential.authority.as_ref().map(|u| u.as_str()), Some("https://login.example.test/"));
    let s = with(&[("MAILGATE_ENTRA_AUTHORITY_HOST", "https://login.example.test")]);
    assert_eq!(s.credential.authority.as_ref().map(|u| u.as_str()), Some("https://login.example.test/"));

    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_CLOUD", "mooncake")]).expect_err("unknown cloud");
    assert!(err.to_string().contains("MAILGATE_CLOUD") && err.to_string().contains("usgovdod"), "{err}");
}

#[test]
fn an_unknown_mailgate_variable_is_left_alone_but_an_unknown_file_key_is_refused() {
    // Only the declared names are read from the environment: others (the command line's MAILGATE_CONFIG, a
    // misspelt one) neither fail the start nor set anything.
    let s =
        load(&[("DATABASE_URL", "x"), ("MAILGATE_LISTN", "nope"), ("MAILGATE_WORKER", "0"), ("mailgate_workers", "3")])
            .expect("loads");
    assert_eq!((s.http.listen.port(), s.delivery.workers), (8080, 32));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mailgate.toml");
    std::fs::write(&path, "database_url = \"x\"\nworker = 3\n").expect("write");
    let err = Settings::from_sources(Some(&path), |_| None).expect_err("unknown key");
    assert!(err.to_string().contains("unknown setting `worker`"), "{err}");
}

#[test]
fn file_values_may_be_strings_integers_or_booleans_and_empty_means_unset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mailgate.toml");
    std::fs::write(&path, "database_url = \"x\"\nworkers = \"7\"\nlarge_messages = true\nlisten = \"\"\n")
        .expect("write");
    let s = Settings::from_sources(Some(&path), |_| None).expect("loads");
    assert_eq!((s.delivery.workers, s.limits.large_messages, s.http.listen.port()), (7, true, 8080));
    // An empty variable is unset, even over the file: the default applies.
    let s = Settings::from_sources(Some(&path), |n| (n == "MAILGATE_WORKERS").then(String::new)).expect("loads");
    assert_eq!(s.delivery.workers, 32);
    for (value, kind) in [("1.5", "float"), ("[1]", "array"), ("{ a = 1 }", "table")] {
        std::fs::write(&path, format!("workers = {value}\n")).expect("write");
        let err = Settings::from_sources(Some(&path), |_| None).expect_err(value);
        assert!(
            err.to_string().contains(&format!("`workers` must be a string, integer or boolean, not {kind}")),
            "{err}"
        );
    }
    let err = Settings::from_sources(Some(&dir.path().join("absent.toml")), |_| None).expect_err("no file");
    assert!(err.to_string().starts_with("config file "), "{err}");
}

#[test]
fn no_secret_setting_reaches_debug() {
    // Every setting declared with a secret type, set to a value Debug must not show.
    let secrets: Vec<&setting::Spec> = all().filter(|s| s.secret).collect();
    let names: Vec<&str> = secrets.iter().map(|s| s.env).collect();
    for name in ["DATABASE_URL", "MAILGATE_MIGRATION_DATABASE_URL", "MAILGATE_CLIENT_SECRET"] {
        assert!(names.contains(&name), "{name} is declared secret: {names:?}");
    }
    let mut pairs: BTreeMap<String, String> =
        secrets.iter().map(|s| (s.env.to_owned(), format!("postgres://svc:hunter2-{}@db/m", s.key))).collect();
    for (k, v) in [("MAILGATE_CREDENTIAL", "client-secret"), ("MAILGATE_TENANT_ID", "t"), ("MAILGATE_CLIENT_ID", "c")] {
        pairs.insert(k.to_owned(), v.to_owned());
    }
    let s = Settings::from_sources(None, |name| pairs.get(name).cloned()).expect("loads");
    let shown = format!("{s:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("client_id: \"c\""), "the rest is shown: {shown}");
    assert_eq!(s.audit_reads.database_url.as_ref().map(|u| u.expose_secret().contains("hunter2")), Some(true));
}

#[test]
fn errors_name_the_variable_and_the_key() {
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_WORKERS", "lots")]).expect_err("not a number");
    assert_eq!(err.to_string(), "setting MAILGATE_WORKERS (workers) is invalid: invalid digit found in string");
    let err = load(&[("DATABASE_URL", "x"), ("MAILGATE_WORKERS", "0")]).expect_err("out of range");
    assert_eq!(err.to_string(), "setting MAILGATE_WORKERS (workers) is invalid: must be between 1 and 256");
    assert_eq!(load(&[]).expect_err("missing").to_string(), "setting DATABASE_URL (database_url) is required");
}
