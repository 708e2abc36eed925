//! Message header fields written so that mail servers take them: every line folded to at most 78 octets where
//! the content allows and never past RFC 5322's 998, and text that is not plain ASCII as RFC 2047 encoded-words
//! of at most 75 characters.
//!
//! `mail-builder` writes the MIME structure, but its address headers put a whole display name into one
//! encoded-word, inside quotes, whatever its length; these headers are written here instead.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// RFC 5322's recommended line length; lines are folded before a token that would pass it.
pub const FOLD_AT: usize = 78;
/// Bytes of text per encoded-word: `=?utf-8?B?` + 60 base64 characters + `?=` is 72, under RFC 2047's 75.
const WORD_BYTES: usize = 45;

/// Appends `Name: token token …\r\n`, folding between tokens. A token longer than a line (an address of 254
/// characters) stays whole: the bounds on what callers may send keep every line under 998 octets.
pub fn field(out: &mut Vec<u8>, name: &str, tokens: impl IntoIterator<Item = String>) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    let mut column = name.len() + 1;
    for token in tokens {
        // Folding right after the colon is allowed too, and keeps a first encoded-word within the line.
        if column > 0 && column + 1 + token.len() > FOLD_AT {
            out.extend_from_slice(b"\r\n");
            column = 0;
        }
        out.push(b' ');
        out.extend_from_slice(token.as_bytes());
        column += 1 + token.len();
    }
    out.extend_from_slice(b"\r\n");
}

/// `text` as encoded-words, split only between characters.
pub fn encoded_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if at + c.len_utf8() - start > WORD_BYTES {
            words.push(encoded_word(&text[start..at]));
            start = at;
        }
    }
    if start < text.len() {
        words.push(encoded_word(&text[start..]));
    }
    words
}

fn encoded_word(chunk: &str) -> String {
    format!("=?utf-8?B?{}?=", STANDARD.encode(chunk))
}

/// Text a reader could mistake for an encoded-word, or that is not printable ASCII, must itself be encoded.
fn is_plain(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b)) && !text.contains("=?")
}

/// Unstructured text (Subject, custom header values): plain words as they are, folded at their spaces;
/// anything else as encoded-words, which keep every character, spaces included.
pub fn unstructured(text: &str) -> Vec<String> {
    let splits_cleanly = !text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  ");
    if is_plain(text) && splits_cleanly && text.split(' ').all(|w| w.len() < FOLD_AT - 2) {
        text.split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
    } else {
        encoded_words(text)
    }
}

/// A display name: a quoted string when short and plain, otherwise encoded-words (RFC 2047 section 5(3)).
fn phrase(name: &str) -> Vec<String> {
    if is_plain(name) && name.len() <= 60 {
        vec![format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))]
    } else {
        encoded_words(name)
    }
}

/// The tokens of an address list: `name <address>,` each, or the bare address for one without a name.
pub fn addresses<'a>(list: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Vec<String> {
    let mut tokens = Vec::new();
    for (address, name) in list {
        if let Some(last) = tokens.last_mut() {
            String::push(last, ',');
        }
        match name.filter(|n| !n.is_empty()) {
            Some(name) => {
                tokens.extend(phrase(name));
                tokens.push(format!("<{address}>"));
            }
            None => tokens.push(address.to_owned()),
        }
    }
    tokens
}

/// `Content-Disposition` for an attachment: a quoted file name when short and plain, otherwise RFC 2231
/// continuations of UTF-8 percent-encoding, each short enough to fold between.
pub fn disposition(kind: &str, file_name: &str) -> String {
    if is_plain(file_name) && file_name.len() <= 60 && !file_name.contains(['"', '\\']) {
        return format!("{kind}; filename=\"{file_name}\"");
    }
    let mut out = kind.to_owned();
    let mut piece = String::from("utf-8''");
    let mut index = 0;
    for c in file_name.chars() {
        let mut encoded = String::new();
        let mut buf = [0u8; 4];
        for b in c.encode_utf8(&mut buf).bytes() {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        if piece.len() + encoded.len() > 48 {
            out.push_str(&format!("; filename*{index}*={piece}"));
            index += 1;
            piece.clear();
        }
        piece.push_str(&encoded);
    }
    out.push_str(&format!("; filename*{index}*={piece}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_folds_between_addresses() {
        let people: Vec<(String, String)> =
            (0..40).map(|i| (format!("person{i}@example.com"), format!("Person Number {i}"))).collect();
        let mut out = Vec::new();
        field(&mut out, "To", addresses(people.iter().map(|(a, n)| (a.as_str(), Some(n.as_str())))));
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.split("\r\n").all(|l| l.len() <= FOLD_AT), "{text}");
        assert!(text.starts_with("To: \"Person Number 0\" <person0@example.com>, \"Person"), "{text}");
        assert!(text.ends_with("<person39@example.com>\r\n"), "{text}");
    }

    #[test]
    fn non_ascii_becomes_short_encoded_words_split_between_characters() {
        let name = "Zoë Ünterwëger-Øster 東京オフィス 🎉".repeat(6);
        let words = encoded_words(&name);
        assert!(words.len() > 1);
        assert!(words.iter().all(|w| w.len() <= 75), "{words:?}");
        let decoded: String = words
            .iter()
            .map(|w| {
                let b64 = w.trim_start_matches("=?utf-8?B?").trim_end_matches("?=");
                String::from_utf8(STANDARD.decode(b64).expect("b64")).expect("whole characters")
            })
            .collect();
        assert_eq!(decoded, name);
    }

    #[test]
    fn plain_text_stays_readable_and_look_alikes_are_encoded() {
        assert_eq!(unstructured("Monthly report"), ["Monthly", "report"]);
        assert_eq!(unstructured(""), Vec::<String>::new());
        assert!(unstructured("=?utf-8?B?Zm9v?=")[0].starts_with("=?utf-8?B?"));
        assert!(unstructured("two  spaces")[0].starts_with("=?utf-8?B?"));
        assert_eq!(addresses([("a@x.com", Some("A \"B\""))]), ["\"A \\\"B\\\"\"", "<a@x.com>"]);
        assert_eq!(disposition("attachment", "r.csv"), "attachment; filename=\"r.csv\"");
        let long = disposition("attachment", &"Résumé ".repeat(20));
        assert!(long.starts_with("attachment; filename*0*=utf-8''R%C3%A9sum%C3%A9%20"), "{long}");
        assert!(long.split("; ").all(|p| p.len() < 70), "{long}");
    }
}
