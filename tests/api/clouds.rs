//! National clouds: mailgate's own credential signs in at the cloud's authority, not the public one. (The issuers
//! callers' tokens carry come from the authority's metadata: tests/entra.rs; the defaults: src/config/tests.rs.)

use std::process::Command;

/// `mailgate migrate` under Entra database sign-in with workload identity, with `env`: its stderr (it must fail).
fn migrate_with_workload_identity(env: &[(&str, &str)]) -> String {
    let token = tempfile::NamedTempFile::new().expect("token file");
    std::fs::write(token.path(), "a-projected-service-account-token").expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailgate"));
    cmd.arg("migrate")
        .env_clear()
        .env("DATABASE_URL", "postgres://id-mailgate@127.0.0.1:9/mailgate")
        .env("MAILGATE_DB_AUTH", "entra")
        .env("MAILGATE_CREDENTIAL", "workload-identity")
        .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
        .env("AZURE_CLIENT_ID", "6f1c2a9e-0000-4000-8000-00000000a11e")
        .env("AZURE_FEDERATED_TOKEN_FILE", token.path())
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run mailgate migrate");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The SDK takes only https authorities, and says which one it refused: an http one shows where the credential
/// would have signed in, with no request made.
#[test]
fn workload_identity_signs_in_at_the_authority_mailgate_is_given() {
    let err = migrate_with_workload_identity(&[("MAILGATE_ENTRA_AUTHORITY_HOST", "http://127.0.0.1:9")]);
    assert!(err.contains("http://127.0.0.1:9") && err.contains("HTTPS"), "{err}");
    let err = migrate_with_workload_identity(&[
        ("MAILGATE_CLOUD", "usgov"),
        ("MAILGATE_ENTRA_AUTHORITY_HOST", "http://127.0.0.1:10"),
    ]);
    assert!(err.contains("http://127.0.0.1:10"), "an explicit authority wins over the cloud's: {err}");
}
