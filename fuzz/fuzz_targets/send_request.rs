//! Fuzzes `POST /v1/messages` bodies: any bytes must either fail to parse as a `SendRequest` or be validated
//! into a `NewMessage` or a refusal of the request (never a panic, never an internal fault), with the
//! large-message path on and off.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::domain::DomainError;
use mailgate::domain::message::{Limits, SendRequest};

const LIMITS: Limits = Limits { max_recipients: 500, max_message_bytes: 35 * 1024 * 1024, large_messages: false };

fuzz_target!(|data: &[u8]| {
    for large_messages in [false, true] {
        let Ok(request) = serde_json::from_slice::<SendRequest>(data) else {
            return;
        };
        if let Err(e) = request.validate(Limits { large_messages, ..LIMITS }) {
            assert!(!matches!(e, DomainError::Internal(_)), "{e:?}");
        }
    }
});
