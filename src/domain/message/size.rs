//! Sizes worked out by arithmetic, so that a message too large to send is refused before anything in it is
//! decoded, copied or built: the decoded length of base64 from its length, and the length of JSON without
//! writing it out.

/// The decoded length of standard, padded base64 (what Graph's `contentBytes` holds), after one pass over its
/// bytes that checks the alphabet, the padding and the unused bits of the last symbol, as a decoder would.
pub fn base64_decoded_len(b64: &str) -> Result<usize, String> {
    let bytes = b64.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err(format!("not valid base64: {} characters is not a multiple of 4", bytes.len()));
    }
    let pad = bytes.iter().rev().take(2).take_while(|&&b| b == b'=').count();
    let data = &bytes[..bytes.len() - pad];
    if let Some(at) = data.iter().position(|&b| sextet(b).is_none()) {
        return Err(format!("not valid base64: unexpected character at offset {at}"));
    }
    // The bits after the last whole byte must be zero, or two encodings would decode to the same bytes.
    let unused = match pad {
        1 => 0b11,
        2 => 0b1111,
        _ => 0,
    };
    if let Some(&last) = data.last()
        && sextet(last).is_some_and(|v| v & unused != 0)
    {
        return Err("not valid base64: the last symbol has bits set past the end of the data".to_owned());
    }
    Ok(bytes.len() / 4 * 3 - pad)
}

fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The length of standard base64 for `len` bytes.
pub fn base64_len(len: usize) -> usize {
    len.div_ceil(3).saturating_mul(4)
}

/// How many bytes `value` takes as compact JSON, counted without keeping them.
pub fn json_len(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn refuses_what_the_decoder_refuses() {
        for bad in ["a", "aGk", "aG=k", "%%%%", "aGk=\n", "aGl=", "aR==", "=aGk", "===="] {
            assert!(base64_decoded_len(bad).is_err(), "{bad}");
            assert!(STANDARD.decode(bad).is_err(), "{bad}");
        }
        assert_eq!(base64_decoded_len(""), Ok(0));
    }

    proptest! {
        #[test]
        fn agrees_with_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let encoded = STANDARD.encode(&bytes);
            prop_assert_eq!(base64_decoded_len(&encoded), Ok(bytes.len()));
            prop_assert_eq!(base64_len(bytes.len()), encoded.len());
        }

        #[test]
        fn accepts_only_what_the_decoder_accepts(text in "[A-Za-z0-9+/=]{0,12}") {
            prop_assert_eq!(base64_decoded_len(&text).is_ok(), STANDARD.decode(&text).is_ok(), "{}", text);
        }
    }
}
