//! JSON output exactly as serde_json's compact writer renders it.

use alloc::vec::Vec;

/// Writes `s` as a JSON string with serde_json's escaping: `"` and `\`,
/// the short escapes for \b \f \n \r \t, `\u00XX` (lower-case hex) for other
/// control characters, everything else (including `/` and non-ASCII) as is.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most names need no escape; this check has no early exit so it vectorizes.
    let plain = bytes.iter().fold(true, |plain, &b| {
        plain & (b >= 0x20 && b != b'"' && b != b'\\')
    });
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f => b"",
            _ => continue,
        };
        // start <= i: start is one past an earlier escaped byte.
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a decimal integer.
pub(crate) fn integer(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    #[test]
    fn matches_serde_json_escaping() {
        let cases = [
            "plain",
            "q\"b\\s/",
            "\u{0}\u{1f}\u{7f}\u{8}\u{c}\n\r\t",
            "ünï\u{1F600}",
            "",
        ];
        for case in cases {
            let mut out = Vec::new();
            string(&mut out, case);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(case).unwrap()
            );
        }
        for value in [0u64, 7, 10, 999, u64::MAX] {
            let mut out = Vec::new();
            integer(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
        }
    }
}
