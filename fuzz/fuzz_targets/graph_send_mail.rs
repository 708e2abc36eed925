//! Fuzzes Graph-shaped `sendMail` bodies through the public reader `to_send_request` and then validation: any
//! JSON must end in a send request or a refusal of the request, never a panic or an internal fault.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate::domain::DomainError;
use mailgate::domain::graph_request::to_send_request;
use mailgate::domain::message::Limits;

const LIMITS: Limits = Limits { max_recipients: 500, max_message_bytes: 35 * 1024 * 1024, large_messages: false };

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for mailbox in ["shared@contoso.test", "15ca046b-ee0f-426e-858e-949b5f826596", "", "€€"] {
        match to_send_request(mailbox, body.clone()) {
            Ok(request) => {
                if let Err(e) = request.validate(LIMITS) {
                    assert!(!matches!(e, DomainError::Internal(_)), "{e:?}");
                }
            }
            Err(e) => assert!(!matches!(e, DomainError::Internal(_)), "{e:?}"),
        }
    }
});
