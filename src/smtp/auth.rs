//! SMTP AUTH (RFC 4954): PLAIN and LOGIN, the two every device speaks. The username is an app's name (or id), the
//! password one of its API keys, checked exactly as an HTTP bearer key is: the same key store and cache, expiry
//! and revocation, the `Mail.Send` role, the per-source failure limiter and the audit of failures.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::reply::Reply;
use crate::auth::authenticate::{AuthFailure, api_key};
use crate::auth::failures::Record;
use crate::auth::{ApiKey, Caller, Role};
use crate::db::audit::{self, NewEvent, Outcome};
use crate::state::AppState;

/// `Username:` and `Password:` in base64: the prompts of AUTH LOGIN that some printers wait for, word for word.
pub const USERNAME_PROMPT: &str = "334 VXNlcm5hbWU6\r\n";
pub const PASSWORD_PROMPT: &str = "334 UGFzc3dvcmQ6\r\n";

/// A client's base64 answer: `Err` with the reply when it cancelled (`*`) or sent something else than base64.
pub fn decode(answer: &str) -> Result<Vec<u8>, Reply> {
    let answer = answer.trim();
    if answer == "*" {
        return Err(Reply::new(501, [5, 7, 0], "Authentication cancelled"));
    }
    if answer == "=" {
        return Ok(Vec::new());
    }
    STANDARD.decode(answer).map_err(|_| Reply::new(501, [5, 5, 2], "Cannot decode the response as base64"))
}

/// AUTH PLAIN's message: `authzid NUL authcid NUL password`.
pub fn plain(message: &[u8]) -> Result<(String, String), Reply> {
    let mut parts = message.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reply::new(501, [5, 5, 2], "AUTH PLAIN takes authzid NUL username NUL password"));
    };
    Ok((String::from_utf8_lossy(user).into_owned(), String::from_utf8_lossy(password).into_owned()))
}

/// Checks a username and password; the reply to give when they do not pass, after counting and auditing it.
pub async fn verify(state: &AppState, peer: IpAddr, user: &str, password: &str) -> Result<Caller, Reply> {
    let invalid = || Reply::new(535, [5, 7, 8], "Authentication credentials invalid");
    let Some(key) = ApiKey::parse(password.trim()) else {
        fail(state, peer, "not_a_credential", "SMTP AUTH: the password is not a mailgate API key").await;
        return Err(invalid());
    };
    let caller = match api_key(&state.pool, &state.callers, &key).await {
        Ok(caller) => caller,
        Err(AuthFailure::Db(e)) => {
            tracing::warn!(error = %e, "SMTP AUTH: the key store is unavailable");
            return Err(Reply::new(454, [4, 7, 0], "Temporary authentication failure; try again later"));
        }
        Err(AuthFailure::Unauthenticated { reason, detail }) => {
            fail(state, peer, reason, &format!("SMTP AUTH: {detail}")).await;
            return Err(invalid());
        }
        Err(AuthFailure::Unregistered { .. } | AuthFailure::Unavailable { .. }) => {
            fail(state, peer, "unknown_key", "SMTP AUTH: the key is unknown").await;
            return Err(invalid());
        }
    };
    let user = user.trim();
    if !(user.eq_ignore_ascii_case(&caller.app_name) || user.eq_ignore_ascii_case(&caller.app_id.to_string())) {
        // A key of another app: the same answer as an unknown key, so a key tells nothing about which app it is.
        fail(state, peer, "unknown_key", "SMTP AUTH: the key is not one of the named app's keys").await;
        return Err(invalid());
    }
    if !caller.has(Role::MailSend) {
        state.metrics.auth_failure("missing_role");
        let detail = format!("SMTP AUTH: sending needs the role Mail.Send; app {} does not hold it", caller.app_name);
        let event = NewEvent {
            app_id: Some(caller.app_id),
            app_name: Some(&caller.app_name),
            detail: Some(&detail),
            ..NewEvent::default()
        };
        if let Err(e) = audit::record(&state.pool, Outcome::Forbidden, event).await {
            tracing::warn!(error = %e, "could not audit a refused SMTP AUTH");
        }
        return Err(Reply::new(535, [5, 7, 8], format!("App {} does not hold the Mail.Send role", caller.app_name)));
    }
    Ok(caller)
}

/// A failed AUTH: counted against the source and audited within its share, as on HTTP.
async fn fail(state: &AppState, peer: IpAddr, reason: &'static str, detail: &str) {
    state.metrics.auth_failure(reason);
    match state.auth_failures.fail(Some(peer)) {
        Record::Audit => {
            let detail = format!("{detail} (from {peer})");
            let event = NewEvent { detail: Some(&detail), ..NewEvent::default() };
            if let Err(e) = audit::record(&state.pool, Outcome::Unauthenticated, event).await {
                tracing::warn!(error = %e, "could not audit a failed SMTP AUTH");
            }
        }
        Record::CountOnly => state.metrics.auth_failure_unaudited(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_login_answers_are_read() {
        let message = decode(&STANDARD.encode("\0logic-app\0mg_x")).expect("base64");
        assert_eq!(plain(&message).expect("plain"), ("logic-app".to_owned(), "mg_x".to_owned()));
        assert!(plain(b"only\0two").is_err());
        assert_eq!(decode("*").expect_err("cancel").code, 501);
        assert_eq!(decode("not base64!").expect_err("bad").status, [5, 5, 2]);
        assert_eq!(STANDARD.decode("VXNlcm5hbWU6").expect("prompt"), b"Username:");
        assert_eq!(STANDARD.decode("UGFzc3dvcmQ6").expect("prompt"), b"Password:");
    }
}
