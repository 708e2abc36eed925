//! Which way a message goes to Graph: one `sendMail` request (`graph.rs`), or, for a body over Graph's 4 MB request
//! limit, a draft and upload sessions (`upload.rs`). Choosing here, above both, keeps `graph.rs` from importing the
//! upload path that is built on it.

use serde_json::Value;
use uuid::Uuid;

use super::graph::{Attempt, GraphClient};
use super::upload;

impl GraphClient {
    /// Sends `body` as `mailbox`, with the message id as `client-request-id`.
    pub async fn send_mail(&self, token: &str, mailbox: &str, message_id: Uuid, body: &Value) -> Attempt {
        if body.get("mime").is_none() && upload::needs_upload(body) {
            return upload::send_large(self, token, mailbox, message_id, body).await;
        }
        self.send_in_one_request(token, mailbox, message_id, body).await
    }
}
