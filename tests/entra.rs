//! Entra ID access-token validation against a fake tenant served over HTTP on loopback.

use std::time::Duration;

use fake_entra::{PublicKeyEncoding, TestIssuer, unix_time};
use mailgate::auth::entra::{EntraConfig, EntraValidator, TokenError, TokenVersion};
use serde_json::{Value, json};

const CLIENT_ID: &str = "6f1c2a9e-0000-4000-8000-00000000a11e";
const APP_ID_URI: &str = "api://mailgate";
const CALLER: &str = "0b8e1f7a-1111-4111-8111-000000000001";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("HTTP client")
}

/// A config for `issuer`'s tenant accepting `audiences`, with default intervals.
fn config_for(issuer: &TestIssuer, audiences: &[&str]) -> EntraConfig {
    let mut config = EntraConfig::new(issuer.tenant_id(), audiences.iter().map(|a| (*a).to_owned()).collect());
    config.authority_host = issuer.authority();
    config
}

async fn setup() -> (TestIssuer, EntraValidator) {
    let issuer = TestIssuer::start().await;
    let validator = EntraValidator::new(config_for(&issuer, &[CLIENT_ID, APP_ID_URI]), http()).await;
    (issuer, validator)
}

async fn setup_with(tweak: impl FnOnce(&mut EntraConfig)) -> (TestIssuer, EntraValidator) {
    let issuer = TestIssuer::start().await;
    let mut config = config_for(&issuer, &[CLIENT_ID, APP_ID_URI]);
    tweak(&mut config);
    let validator = EntraValidator::new(config, http()).await;
    (issuer, validator)
}

/// Validates a token expected to be refused and checks the error and its description.
async fn refused(validator: &EntraValidator, token: &str) -> TokenError {
    let error = validator.validate(token).await.expect_err("token must be refused");
    let description = error.description();
    assert!(!description.is_empty());
    if token.len() > 8 {
        assert!(!description.contains(token), "description leaks the token: {description}");
    }
    for segment in token.split('.').filter(|s| s.len() > 16) {
        assert!(!description.contains(segment), "description leaks a token segment");
    }
    assert!(!description.contains(['"', '\\', '\r', '\n']), "unsafe in a header: {description}");
    error
}

#[tokio::test]
async fn valid_v1_token_is_accepted() {
    let (issuer, validator) = setup().await;
    assert!(validator.status().is_ready());
    let mut claims = issuer.v1_claims(CALLER, APP_ID_URI);
    claims["roles"] = json!(["Mail.Send", "Mail.Send.Shared"]);
    let identity = validator.validate(&issuer.sign(&claims)).await.expect("valid v1");
    assert_eq!(identity.version, TokenVersion::V1);
    assert_eq!(identity.app_id, CALLER);
    assert_eq!(identity.tenant_id, issuer.tenant_id());
    assert_eq!(identity.object_id.as_deref(), claims["oid"].as_str());
    assert_eq!(identity.subject.as_deref(), claims["sub"].as_str());
    assert_eq!(identity.roles, ["Mail.Send", "Mail.Send.Shared"]);
}

#[tokio::test]
async fn valid_v2_token_is_accepted() {
    let (issuer, validator) = setup().await;
    let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
    claims["aud"] = json!(["something-else", CLIENT_ID]);
    claims.as_object_mut().expect("object").remove("roles");
    claims.as_object_mut().expect("object").remove("oid");
    let identity = validator.validate(&issuer.sign(&claims)).await.expect("valid v2");
    assert_eq!(identity.version, TokenVersion::V2);
    assert_eq!(identity.app_id, CALLER);
    assert_eq!(identity.object_id, None);
    assert!(identity.roles.is_empty());
    // A v2 token's appid is ignored: the caller is azp.
    claims["appid"] = json!("not-the-caller");
    let identity = validator.validate(&issuer.sign(&claims)).await.expect("valid v2");
    assert_eq!(identity.app_id, CALLER);
}

#[tokio::test]
async fn x5t_is_used_when_there_is_no_kid() {
    let (issuer, validator) = setup().await;
    let mut header = issuer.header();
    header.as_object_mut().expect("object").remove("kid");
    let token = issuer.sign_with_header(&header, &issuer.v1_claims(CALLER, CLIENT_ID));
    validator.validate(&token).await.expect("x5t fallback");
    header.as_object_mut().expect("object").remove("x5t");
    let token = issuer.sign_with_header(&header, &issuer.v1_claims(CALLER, CLIENT_ID));
    assert!(matches!(refused(&validator, &token).await, TokenError::Malformed(_)));
}

#[tokio::test]
async fn rotated_key_is_picked_up_without_restart() {
    let (issuer, validator) = setup_with(|c| c.min_refetch_interval = Duration::ZERO).await;
    let old_token = issuer.sign(&issuer.v2_claims(CALLER, CLIENT_ID));
    let before = issuer.jwks_requests();
    let new_kid = issuer.rotate();
    let token = issuer.sign(&issuer.v2_claims(CALLER, CLIENT_ID));
    validator.validate(&token).await.expect("new key accepted");
    assert_eq!(issuer.jwks_requests(), before + 1, "one refetch for the new kid");
    validator.validate(&old_token).await.expect("old key still published");
    validator.validate(&token).await.expect("new key now cached");
    assert_eq!(issuer.jwks_requests(), before + 1, "known kids cause no fetch");

    // A key that is never published stays unknown.
    let unpublished = issuer.switch_to_unpublished_key();
    let token = issuer.sign(&issuer.v2_claims(CALLER, CLIENT_ID));
    assert_eq!(refused(&validator, &token).await, TokenError::UnknownSigningKey(unpublished));
    assert_ne!(new_kid, issuer.current_kid());
}

#[tokio::test]
async fn forged_kids_cannot_multiply_jwks_fetches() {
    let interval = Duration::from_secs(1);
    let issuer = TestIssuer::start().await;
    let claims = issuer.v2_claims(CALLER, CLIENT_ID);
    // Sign everything up front so that signing time does not eat into the interval.
    let mut waves: Vec<Vec<String>> = (0..3)
        .map(|_| {
            (0..50)
                .map(|_| {
                    let mut header = issuer.header();
                    header["kid"] = json!(uuid::Uuid::new_v4().to_string());
                    issuer.sign_with_header(&header, &claims)
                })
                .collect()
        })
        .collect();
    let mut config = config_for(&issuer, &[CLIENT_ID]);
    config.min_refetch_interval = interval;
    let validator = EntraValidator::new(config, http()).await;
    let run_wave = |tokens: Vec<String>| {
        let validator = validator.clone();
        async move {
            let tasks: Vec<_> = tokens
                .into_iter()
                .map(|token| {
                    let validator = validator.clone();
                    tokio::spawn(async move { validator.validate(&token).await })
                })
                .collect();
            for task in tasks {
                let result = task.await.expect("task");
                assert!(matches!(result, Err(TokenError::UnknownSigningKey(_))), "{result:?}");
            }
        }
    };

    // Right after the start-up fetch, nothing is refetched at all.
    let start = issuer.jwks_requests();
    run_wave(waves.pop().expect("wave")).await;
    assert_eq!(issuer.jwks_requests(), start);

    // Once the interval has passed, 50 concurrent forged kids cause a single fetch ... (the interval is the rate
    // limit under test, so the test lets it pass).
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let before = issuer.jwks_requests();
    run_wave(waves.pop().expect("wave")).await;
    let fetched = issuer.jwks_requests() - before;
    assert!((1..=2).contains(&fetched), "{fetched} JWKS fetches");
    // ... and another wave inside the interval causes none.
    let before = issuer.jwks_requests();
    run_wave(waves.pop().expect("wave")).await;
    assert_eq!(issuer.jwks_requests(), before);
    // The genuine key still works throughout.
    validator.validate(&issuer.sign(&claims)).await.expect("genuine token");
}

#[tokio::test]
async fn expiry_and_not_before_honour_the_leeway() {
    let (issuer, validator) = setup().await;
    let with = |field: &str, offset: i64| {
        let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
        claims[field] = json!(unix_time(offset));
        issuer.sign(&claims)
    };
    validator.validate(&with("exp", -10)).await.expect("expired 10 s ago, 60 s leeway");
    validator.validate(&with("nbf", 10)).await.expect("valid in 10 s, 60 s leeway");
    assert_eq!(refused(&validator, &with("exp", -120)).await, TokenError::Expired);
    assert_eq!(refused(&validator, &with("nbf", 300)).await, TokenError::NotYetValid);
    assert_eq!(TokenError::Expired.description(), "the token expired");

    let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
    claims.as_object_mut().expect("object").remove("exp");
    let error = refused(&validator, &issuer.sign(&claims)).await;
    assert_eq!(error, TokenError::MissingClaim("exp"));
}

#[tokio::test]
async fn wrong_audience_issuer_and_tenant_are_refused() {
    let (issuer, validator) = setup().await;
    let token = issuer.sign(&issuer.v2_claims(CALLER, "api://someone-else"));
    let error = refused(&validator, &token).await;
    assert_eq!(error, TokenError::WrongAudience("api://someone-else".into()));
    assert_eq!(error.description(), "the token's audience `api://someone-else` is not one this service accepts");

    // A v2 token carrying the v1 issuer.
    let tid = issuer.tenant_id().to_owned();
    let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
    claims["iss"] = json!(format!("https://sts.windows.net/{tid}/"));
    let error = refused(&validator, &issuer.sign(&claims)).await;
    assert_eq!(error, TokenError::WrongIssuer(format!("https://sts.windows.net/{tid}/")));

    // Another tenant, with an issuer consistent with it: refused for the tenant.
    let foreign = uuid::Uuid::new_v4().to_string();
    let mut claims = issuer.v1_claims(CALLER, CLIENT_ID);
    claims["tid"] = json!(foreign);
    claims["iss"] = json!(format!("https://sts.windows.net/{foreign}/"));
    let foreign_token = issuer.sign(&claims);
    let error = refused(&validator, &foreign_token).await;
    assert_eq!(error, TokenError::WrongTenant(foreign.clone()));

    // Allowed once the tenant is listed.
    let tenant = issuer.tenant_id().to_owned();
    let mut config = config_for(&issuer, &[CLIENT_ID]);
    config.allowed_tenants = vec![tenant, foreign.to_uppercase()];
    let multi = EntraValidator::new(config, http()).await;
    let identity = multi.validate(&foreign_token).await.expect("listed tenant");
    assert_eq!(identity.tenant_id, foreign);
}

#[tokio::test]
async fn missing_claims_are_named() {
    let (issuer, validator) = setup().await;
    for (version, claim) in [(1, "appid"), (2, "azp"), (2, "tid"), (1, "ver"), (2, "aud"), (1, "iss")] {
        let mut claims: Value =
            if version == 1 { issuer.v1_claims(CALLER, CLIENT_ID) } else { issuer.v2_claims(CALLER, CLIENT_ID) };
        claims.as_object_mut().expect("object").remove(claim);
        let error = refused(&validator, &issuer.sign(&claims)).await;
        assert_eq!(error, TokenError::MissingClaim(claim));
    }
}

#[tokio::test]
async fn forged_and_tampered_tokens_are_refused() {
    let (issuer, validator) = setup().await;
    let claims = issuer.v1_claims(CALLER, CLIENT_ID);
    let good = issuer.sign(&claims);
    validator.validate(&good).await.expect("untampered token");

    let tampered = TestIssuer::tamper(&good);
    assert_ne!(tampered, good);
    assert_eq!(refused(&validator, &tampered).await, TokenError::BadSignature);

    let mut bad_signature: Vec<&str> = good.split('.').collect();
    let other = issuer.sign(&issuer.v1_claims("someone-else", CLIENT_ID));
    bad_signature[2] = other.split('.').nth(2).expect("signature");
    let spliced = bad_signature.join(".");
    assert_eq!(refused(&validator, &spliced).await, TokenError::BadSignature);

    let none = issuer.alg_none(&claims);
    assert!(EntraValidator::looks_like_jwt(&none));
    let error = refused(&validator, &none).await;
    assert_eq!(error, TokenError::UnsupportedAlgorithm("none".into()));

    for encoding in [PublicKeyEncoding::Pem, PublicKeyEncoding::Der] {
        let token = issuer.hs256_with_public_key(&claims, encoding);
        let error = refused(&validator, &token).await;
        assert_eq!(error, TokenError::UnsupportedAlgorithm("HS256".into()), "{encoding:?}");
        assert_eq!(error.description(), "algorithm HS256 is not accepted; tokens must be RS256");
    }

    for alg in ["ES256", "PS256", "RS512", "rs256"] {
        let mut header = issuer.header();
        header["alg"] = json!(alg);
        let token = issuer.sign_with_header(&header, &claims);
        let error = refused(&validator, &token).await;
        assert_eq!(error, TokenError::UnsupportedAlgorithm(alg.into()));
    }

    let mut header = issuer.header();
    header["kid"] = json!("no-such-key");
    let token = issuer.sign_with_header(&header, &claims);
    let error = refused(&validator, &token).await;
    assert_eq!(error, TokenError::UnknownSigningKey("no-such-key".into()));
    assert_eq!(error.description(), "the token is signed with an unknown key `no-such-key`");
}

#[tokio::test]
async fn malformed_tokens_are_refused_cheaply() {
    let (issuer, validator) = setup().await;
    let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
    claims["padding"] = json!("x".repeat(20 * 1024));
    let huge = issuer.sign(&claims);
    assert!(matches!(refused(&validator, &huge).await, TokenError::Malformed(_)));
    for junk in ["", "abc", "a.b", "a.b.c.d", "mg_0123456789ab_c2VjcmV0", "e30.e30.e30", "!!.e30.x"] {
        assert!(matches!(refused(&validator, junk).await, TokenError::Malformed(_)), "{junk}");
    }
}

#[tokio::test]
async fn keys_unavailable_at_start_then_ready_after_refresh() {
    let issuer = TestIssuer::start().await;
    issuer.set_available(false);
    let mut config = config_for(&issuer, &[CLIENT_ID]);
    config.refresh_interval = Duration::from_millis(300);
    config.min_refetch_interval = Duration::from_millis(300);
    let validator = EntraValidator::new(config, http()).await;
    let status = validator.status();
    assert!(!status.is_ready());
    assert_eq!(status.keys, 0);
    assert!(status.last_success.is_none());
    assert!(status.last_error.as_deref().is_some_and(|e| e.contains("503")), "{status:?}");

    let token = issuer.sign(&issuer.v2_claims(CALLER, CLIENT_ID));
    assert_eq!(refused(&validator, &token).await, TokenError::KeysUnavailable);

    issuer.set_available(true);
    let refresher = validator.spawn_refresh();
    wait_for(|| validator.status().is_ready()).await;
    let status = validator.status();
    assert!(status.last_success.is_some() && status.last_error.is_none(), "{status:?}");
    validator.validate(&token).await.expect("ready now");

    // The endpoint going down keeps the last good keys and records the error.
    issuer.set_available(false);
    wait_for(|| validator.status().last_error.is_some()).await;
    assert!(validator.status().is_ready());
    validator.validate(&token).await.expect("last good keys kept");
    refresher.abort();
}

#[tokio::test]
async fn unreachable_authority_is_not_fatal() {
    // Bind then drop a listener to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let mut config = EntraConfig::new("00000000-0000-0000-0000-000000000001", vec![CLIENT_ID.into()]);
    config.authority_host = format!("http://127.0.0.1:{port}").parse().expect("url");
    let validator = EntraValidator::new(config, http()).await;
    assert!(!validator.status().is_ready());
    assert!(validator.status().last_error.is_some());
}

#[test]
fn looks_like_jwt_tells_tokens_from_api_keys() {
    let header = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9"; // {"typ":"JWT","alg":"RS256","kid":"abc"}
    assert!(EntraValidator::looks_like_jwt(&format!("{header}.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")));
    for not_jwt in [
        "mg_0123456789ab_5QmFzZTY0U2VjcmV0S2V5VmFsdWU",
        "mg_0123456789ab_abc.def.ghi",
        "",
        "random string",
        "a.b.c",
        "e30.e30.e30",          // {} has no alg
        "eyJhbGciOjF9.e30.e30", // alg is not a string
    ] {
        assert!(!EntraValidator::looks_like_jwt(not_jwt), "{not_jwt}");
    }
}

async fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn only_app_only_tokens_are_accepted() {
    let (issuer, validator) = setup().await;
    // A delegated token: a user signed in to the caller's app, which asked for a scope on mailgate.
    let mut delegated = issuer.v2_claims(CALLER, CLIENT_ID);
    delegated["scp"] = json!("Mail.Send");
    delegated["idtyp"] = json!("user");
    let error = refused(&validator, &issuer.sign(&delegated)).await;
    assert!(matches!(error, TokenError::NotAppOnly(_)), "{error:?}");
    assert_eq!(error.reason(), "delegated_token");
    assert!(error.description().contains("only app-only tokens"), "{}", error.description());

    // Either sign alone is enough: `scp` without `idtyp` (which is an optional claim) ...
    delegated.as_object_mut().expect("object").remove("idtyp");
    let error = refused(&validator, &issuer.sign(&delegated)).await;
    assert!(error.description().contains("`scp`"), "{}", error.description());
    // ... and `idtyp` other than `app` without `scp`.
    let mut user = issuer.v1_claims(CALLER, CLIENT_ID);
    user["idtyp"] = json!("user");
    let error = refused(&validator, &issuer.sign(&user)).await;
    assert!(error.description().contains("`idtyp` is `user`"), "{}", error.description());

    // App-only tokens pass with `idtyp` = app, or without `idtyp` at all.
    validator.validate(&issuer.sign(&issuer.v1_claims(CALLER, CLIENT_ID))).await.expect("idtyp app");
    let mut plain = issuer.v2_claims(CALLER, CLIENT_ID);
    plain.as_object_mut().expect("object").remove("idtyp");
    validator.validate(&issuer.sign(&plain)).await.expect("no idtyp");
}

/// Each cloud names its own issuers in its OpenID metadata (US Government's v2 tokens come from
/// login.microsoftonline.us, 21Vianet's v1 tokens from sts.chinacloudapi.cn): the validator takes them from there.
#[tokio::test]
async fn another_clouds_authority_names_the_issuers_its_tokens_carry() {
    for (v2_host, v1_host) in [
        ("https://login.microsoftonline.us", "https://sts.windows.net"),
        ("https://login.chinacloudapi.cn", "https://sts.chinacloudapi.cn"),
    ] {
        let issuer = TestIssuer::start_in_cloud(v2_host, v1_host).await;
        let validator = EntraValidator::new(config_for(&issuer, &[CLIENT_ID]), http()).await;
        let tid = issuer.tenant_id().to_owned();
        for claims in [issuer.v1_claims(CALLER, CLIENT_ID), issuer.v2_claims(CALLER, CLIENT_ID)] {
            let identity = validator.validate(&issuer.sign(&claims)).await.unwrap_or_else(|e| panic!("{claims}: {e}"));
            assert_eq!(identity.tenant_id, tid);
        }
        // The public cloud's issuer, signed with this tenant's own key, is not this authority's.
        let mut claims = issuer.v2_claims(CALLER, CLIENT_ID);
        claims["iss"] = json!(format!("https://login.microsoftonline.com/{tid}/v2.0"));
        let error = refused(&validator, &issuer.sign(&claims)).await;
        assert_eq!(error, TokenError::WrongIssuer(format!("https://login.microsoftonline.com/{tid}/v2.0")));
    }
}

/// Metadata that could not be fetched at start is fetched with the keys for the first token; the issuers it names
/// are the ones that token is checked against.
#[tokio::test]
async fn issuers_come_with_metadata_fetched_after_start() {
    let issuer = TestIssuer::start().await;
    issuer.set_available(false);
    let mut config = config_for(&issuer, &[CLIENT_ID]);
    config.min_refetch_interval = Duration::ZERO;
    let validator = EntraValidator::new(config, http()).await;
    assert!(!validator.status().is_ready());
    issuer.set_available(true);
    let identity = validator.validate(&issuer.sign(&issuer.v1_claims(CALLER, CLIENT_ID))).await.expect("valid v1");
    assert_eq!(identity.version, TokenVersion::V1);
}
