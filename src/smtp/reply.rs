//! SMTP replies: a code, an enhanced status code (RFC 3463) and a sentence a person can act on. Written through
//! `smtp-proto`'s reply writer, so every reply is formed one way.

use smtp_proto::Response;

/// One reply, as the session sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: [u8; 3],
    pub text: String,
}

impl Reply {
    pub fn new(code: u16, status: [u8; 3], text: impl Into<String>) -> Self {
        Self { code, status, text: text.into() }
    }

    /// Whether the session should close after sending it.
    pub fn closes(&self) -> bool {
        self.code == 421 || self.code == 221
    }

    /// Appends the reply to `out`. Line breaks in the text (a reason from the allowlist) become spaces: a reply is
    /// one line.
    pub fn write(&self, out: &mut Vec<u8>) {
        let text: String = self.text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let [a, b, c] = self.status;
        // Writing into memory cannot fail.
        let _ = Response::new(self.code, a, b, c, text).write(out);
    }
}

pub fn ok(text: impl Into<String>) -> Reply {
    Reply::new(250, [2, 0, 0], text)
}

pub fn bad_sequence(text: impl Into<String>) -> Reply {
    Reply::new(503, [5, 5, 1], text)
}

pub fn not_implemented(command: &str) -> Reply {
    Reply::new(502, [5, 5, 1], format!("{command} is not implemented here"))
}

pub fn local_error() -> Reply {
    Reply::new(451, [4, 3, 0], "The message could not be stored; nothing was accepted; try again later")
}

pub fn shutting_down(host: &str) -> Reply {
    Reply::new(421, [4, 3, 2], format!("{host} is shutting down; try again later"))
}

pub fn auth_required() -> Reply {
    Reply::new(530, [5, 7, 0], "Authentication required")
}

pub fn starttls_first() -> Reply {
    Reply::new(530, [5, 7, 0], "Must issue a STARTTLS command first")
}

pub fn not_allowed(text: impl Into<String>) -> Reply {
    Reply::new(550, [5, 7, 1], text)
}

pub fn too_big(limit: usize) -> Reply {
    Reply::new(552, [5, 3, 4], format!("Message too big: at most {limit} bytes can be delivered"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_an_enhanced_code_on_one_line() {
        let mut out = Vec::new();
        not_allowed("app x may not\r\nsend as y").write(&mut out);
        assert_eq!(String::from_utf8(out).expect("text"), "550 5.7.1 app x may not  send as y\r\n");
    }
}
