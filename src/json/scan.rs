//! A strict JSON scanner: it accepts exactly the JSON that `serde_json`
//! accepts (escapes, surrogate pairs, whitespace, number ranges, a nesting
//! limit of 128 levels) and hands strings out without copying unless they
//! hold escapes. The header parser and the checkpoint index parser walk
//! their documents with [`Scanner::object`] and [`Scanner::array`];
//! `tests/differential.rs` checks the accepted language against
//! `serde_json`.

use alloc::format;
use alloc::string::String;

use super::classify::Classes;
use crate::error::{Error, ErrorKind, Result};

/// serde_json refuses input whose nesting reaches this depth.
pub(crate) const RECURSION_LIMIT: usize = 128;

/// Decimal integers of at most this many digits fit in a u64 (10^19 - 1
/// < 2^64), so they are read without overflow checks.
const MAX_SAFE_DIGITS: usize = 19;

/// An object key, as [`Scanner::object`] hands it out.
pub(crate) struct Key {
    /// The position of the key in the `known` list, if it is one of them.
    pub(crate) known: Option<usize>,
    /// The decoded key.
    pub(crate) text: Str,
}

/// Where a decoded string lives. The scanner makes `Raw` ranges from the
/// positions of ASCII quotes in its own text, so they are in bounds and on
/// character boundaries; the same holds for every position the scanner
/// slices at (it only stops on ASCII bytes).
pub(crate) enum Str {
    /// Unescaped: this range of the input.
    Raw(usize, usize),
    /// Had escapes: decoded into the scanner's scratch buffer.
    Scratch,
}

pub(crate) struct Scanner<'a> {
    text: &'a str,
    pub(crate) pos: usize,
    /// Added to positions in errors, so they are offsets in the file.
    base: u64,
    pub(crate) scratch: String,
    /// Where string scans stop, computed for the whole text up front.
    classes: Classes,
}

impl<'a> Scanner<'a> {
    #[cfg(any(feature = "std", test))]
    pub(crate) fn new(text: &'a str, base: u64) -> Self {
        Scanner::with_classes(text, base, Classes::new(text.as_bytes()))
    }

    /// A scanner over `text`, whose bytes `classes` classified.
    pub(crate) fn with_classes(text: &'a str, base: u64, classes: Classes) -> Self {
        Scanner {
            text,
            pos: 0,
            base,
            scratch: String::new(),
            classes,
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// File offset of a position in the header.
    pub(crate) fn offset_of(&self, pos: usize) -> u64 {
        self.base.saturating_add(pos as u64)
    }

    pub(crate) fn error(&self, kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error::new(kind)
            .at(self.offset_of(self.pos))
            .with_detail(detail)
    }

    fn syntax(&self, what: &str) -> Error {
        if self.pos >= self.text.len() {
            return Error::new(ErrorKind::JsonSyntax)
                .at(self.offset_of(self.pos))
                .with_detail(format!("unexpected end of header, expected {what}"));
        }
        self.error(ErrorKind::JsonSyntax, format!("expected {what}"))
    }

    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    #[inline(always)]
    pub(crate) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then consumes `byte` or fails naming `what`.
    #[inline(always)]
    pub(crate) fn expect(&mut self, byte: u8, what: &str) -> Result<()> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax(what))
        }
    }

    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.text.len()
    }

    /// Consumes `literal` if the input continues with exactly those bytes.
    #[inline(always)]
    pub(crate) fn eat(&mut self, literal: &[u8]) -> bool {
        if self.bytes().get(self.pos..self.pos + literal.len()) == Some(literal) {
            self.pos += literal.len();
            true
        } else {
            false
        }
    }

    /// After an opening bracket: consumes `close` and returns true if the
    /// container is empty.
    #[inline]
    fn empty(&mut self, close: u8) -> bool {
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// After an element: consumes `,` and returns true (another element
    /// follows), or consumes `close` and returns false.
    #[inline]
    fn more(&mut self, close: u8) -> Result<bool> {
        self.skip_ws();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.syntax(if close == b']' {
                "',' or ']'"
            } else {
                "',' or '}'"
            })),
        }
    }

    /// Walks the object at `pos`, calling `member(scanner, key, key_pos)`
    /// after each key and its colon; `member` must consume the value.
    ///
    /// A key that decodes to one of `known` (each given with its quotes,
    /// such as `b"\"dtype\""`) is reported as that one, whether spelled
    /// plainly or through escapes. The
    /// caller checks the value's type before calling, so that a wrong type
    /// gets its own error; a missing `{` here is a syntax error.
    #[inline(always)]
    pub(crate) fn object(
        &mut self,
        known: &[&[u8]],
        mut member: impl FnMut(&mut Self, Key, usize) -> Result<()>,
    ) -> Result<()> {
        if self.peek() != Some(b'{') {
            return Err(self.syntax("an object"));
        }
        self.pos += 1;
        if self.empty(b'}') {
            return Ok(());
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos;
            let key = self.key(known)?;
            self.expect(b':', "':'")?;
            self.skip_ws();
            member(self, key, key_pos)?;
            if !self.more(b'}')? {
                return Ok(());
            }
        }
    }

    /// A key, and which of `known` it is, if any (compared after
    /// decoding, so an escaped spelling of a known key is that key).
    #[inline(always)]
    fn key(&mut self, known: &[&[u8]]) -> Result<Key> {
        let text = self.string()?;
        let decoded = self.str_of(&text).as_bytes();
        let unquoted = |k: &&[u8]| k.get(1..k.len().saturating_sub(1)) == Some(decoded);
        Ok(Key {
            known: known.iter().position(unquoted),
            text,
        })
    }

    /// Walks the array at `pos`, calling `element` at each element (after
    /// whitespace); `element` must consume it. A missing `[` is a syntax
    /// error, as for [`Scanner::object`].
    #[inline(always)]
    pub(crate) fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        if self.peek() != Some(b'[') {
            return Err(self.syntax("an array"));
        }
        self.pos += 1;
        if self.empty(b']') {
            return Ok(());
        }
        loop {
            self.skip_ws();
            element(self)?;
            if !self.more(b']')? {
                return Ok(());
            }
        }
    }

    /// The text of a string token returned by [`Scanner::string`].
    #[inline]
    pub(crate) fn str_of(&self, s: &Str) -> &str {
        match *s {
            Str::Raw(start, end) => &self.text[start..end],
            Str::Scratch => &self.scratch,
        }
    }

    /// Parses a string whose opening quote is at `pos`.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Str> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("a string"));
        }
        self.pos += 1;
        let start = self.pos;
        let bytes = self.bytes();
        // The classification says where the next quote, backslash or
        // control character is; everything before it belongs to the string.
        self.pos = self.classes.next_stop(start).unwrap_or(bytes.len());
        match self.peek() {
            Some(b'"') => {
                let end = self.pos;
                self.pos += 1;
                Ok(Str::Raw(start, end))
            }
            Some(b'\\') => {
                self.scratch.clear();
                self.scratch.push_str(&self.text[start..self.pos]);
                self.escaped_string()
            }
            Some(_) => Err(self.error(
                ErrorKind::JsonSyntax,
                "control character in string (must be escaped)",
            )),
            None => Err(self.syntax("the end of a string")),
        }
    }

    /// Slow path: the rest of a string that contains escapes, into `scratch`.
    fn escaped_string(&mut self) -> Result<Str> {
        loop {
            let run_start = self.pos;
            self.pos = self.classes.next_stop(run_start).unwrap_or(self.text.len());
            let run = &self.text[run_start..self.pos];
            self.scratch.push_str(run);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Str::Scratch);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'u') => {
                            self.pos += 1;
                            self.unicode_escape()?
                        }
                        Some(b) => {
                            let c = match b {
                                b'"' => '"',
                                b'\\' => '\\',
                                b'/' => '/',
                                b'b' => '\u{8}',
                                b'f' => '\u{c}',
                                b'n' => '\n',
                                b'r' => '\r',
                                b't' => '\t',
                                _ => {
                                    return Err(self.error(ErrorKind::JsonSyntax, "invalid escape"))
                                }
                            };
                            self.pos += 1;
                            c
                        }
                        None => return Err(self.syntax("an escape")),
                    };
                    self.scratch.push(c);
                }
                Some(_) => {
                    return Err(self.error(
                        ErrorKind::JsonSyntax,
                        "control character in string (must be escaped)",
                    ))
                }
                None => return Err(self.syntax("the end of a string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16> {
        let mut value: u16 = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error(ErrorKind::JsonSyntax, "invalid \\u escape")),
            };
            value = (value << 4) | u16::from(digit);
            self.pos += 1;
        }
        Ok(value)
    }

    /// After `\u`: four hex digits, and for a leading surrogate the trailing one.
    /// Lone surrogates are refused, as serde_json does for strings.
    fn unicode_escape(&mut self) -> Result<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes().get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.error(
                        ErrorKind::JsonSyntax,
                        "lone leading surrogate in \\u escape",
                    ));
                }
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error(
                        ErrorKind::JsonSyntax,
                        "invalid trailing surrogate in \\u escape",
                    ));
                }
                0x10000 + ((u32::from(first) - 0xD800) << 10) + (u32::from(second) - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(self.error(
                    ErrorKind::JsonSyntax,
                    "lone trailing surrogate in \\u escape",
                ))
            }
            other => u32::from(other),
        };
        // Every value built above is a scalar value (surrogates were paired
        // or refused), so this error cannot happen.
        char::from_u32(code).ok_or_else(|| self.error(ErrorKind::JsonSyntax, "invalid \\u escape"))
    }

    /// Parses a number at `pos` that must be a non-negative integer fitting
    /// in a u64; `depth` is the nesting level of its array. A syntactically valid number of another kind is
    /// [`ErrorKind::InvalidInteger`]; anything else is a syntax error.
    #[inline]
    pub(crate) fn integer(&mut self, depth: usize) -> Result<u64> {
        let start = self.pos;
        let bytes = self.bytes();
        let mut value: u64 = 0;
        let mut fits = true;
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = bytes.get(self.pos) {
                    self.pos += 1;
                }
                let digits = &bytes[start..self.pos];
                let add = |v: u64, d: &u8| v * 10 + u64::from(d - b'0');
                if digits.len() <= MAX_SAFE_DIGITS {
                    value = digits.iter().fold(0, add);
                } else {
                    let checked = |v: Option<u64>, d: &u8| {
                        v?.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                    };
                    match digits.iter().fold(Some(0), checked) {
                        Some(v) => value = v,
                        None => fits = false,
                    }
                }
            }
            Some(b'-') => {
                self.number()?;
                return Err(self.invalid_integer(start, "negative number"));
            }
            Some(b'"' | b'[' | b'{' | b't' | b'f' | b'n') => {
                self.value(depth)?;
                return Err(self.invalid_integer(start, "not a number"));
            }
            _ => return Err(self.syntax("a number")),
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => {
                self.pos = start;
                self.number()?;
                Err(self.invalid_integer(start, "not an integer"))
            }
            Some(b'0'..=b'9') => Err(self.error(ErrorKind::JsonSyntax, "leading zero in number")),
            _ if !fits => Err(self.invalid_integer(start, "too large for 64 bits")),
            _ => Ok(value),
        }
    }

    /// The common spelling of a dimension or offset, read without the
    /// general path: `0`, or a digit 1-9 followed by digits, at most 19 in
    /// all (so the value cannot overflow). Returns `None`, having consumed
    /// some digits, for anything else; a caller that gets `None` rewinds
    /// and reads the value again with [`Scanner::integer`], which decides.
    /// A caller that gets a value still checks the byte after it.
    #[inline(always)]
    pub(crate) fn plain_integer(&mut self) -> Option<u64> {
        let bytes = self.bytes();
        let start = self.pos;
        match bytes.get(start) {
            Some(b'0') => {
                self.pos += 1;
                return Some(0);
            }
            Some(b'1'..=b'9') => {}
            _ => return None,
        }
        let mut value = 0u64;
        while let Some(&d @ b'0'..=b'9') = bytes.get(self.pos) {
            if self.pos - start == MAX_SAFE_DIGITS {
                return None;
            }
            value = value * 10 + u64::from(d - b'0');
            self.pos += 1;
        }
        Some(value)
    }

    /// The text from `pos` up to the next quote, backslash or control
    /// character, if that is a quote: the rest of a string without escapes,
    /// and the quote's position. The scanner does not move.
    #[inline(always)]
    pub(crate) fn plain_string_rest(&self) -> Option<(&'a str, usize)> {
        let end = self.classes.next_stop(self.pos)?;
        if self.bytes().get(end) != Some(&b'"') {
            return None;
        }
        // Both ends are ASCII bytes (or `pos` follows one), so on
        // character boundaries.
        Some((self.text.get(self.pos..end)?, end))
    }

    fn invalid_integer(&self, start: usize, why: &str) -> Error {
        let token = &self.text[start..self.pos];
        let shown: String = token.chars().take(40).collect();
        Error::new(ErrorKind::InvalidInteger)
            .at(self.offset_of(start))
            .with_detail(format!("{why}: {shown}"))
    }

    /// Validates any JSON number at `pos` (RFC 8259 grammar). Like
    /// serde_json, a number whose value overflows an f64 is refused.
    fn number(&mut self) -> Result<()> {
        let start = self.pos;
        self.number_syntax()?;
        let token = self.text.get(start..self.pos).unwrap_or("0");
        let is_integer = !token.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        // Short integers are always in range; only parse the rest.
        let in_range =
            (is_integer && token.len() <= 20) || token.parse::<f64>().is_ok_and(f64::is_finite);
        if !in_range {
            self.pos = start;
            return Err(self.error(ErrorKind::JsonSyntax, "number out of range"));
        }
        Ok(())
    }

    fn number_syntax(&mut self) -> Result<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.error(ErrorKind::JsonSyntax, "leading zero in number"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("a digit")),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("a digit after the decimal point"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("a digit in the exponent"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<()> {
        if self.eat(word) {
            Ok(())
        } else {
            Err(self.syntax("a JSON value"))
        }
    }

    /// Validates and skips any JSON value at `pos` (after whitespace).
    /// `depth` is the nesting level of the value's container; an array or
    /// object here would be at `depth + 1`.
    pub(crate) fn value(&mut self, depth: usize) -> Result<()> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'[' | b'{') => {
                let depth = depth + 1;
                if depth >= RECURSION_LIMIT {
                    return Err(
                        self.error(ErrorKind::RecursionLimit, "nesting limit of 128 reached")
                    );
                }
                if self.peek() == Some(b'[') {
                    self.array(|s| s.value(depth))
                } else {
                    self.object(&[], |s, _, _| s.value(depth))
                }
            }
            _ => Err(self.syntax("a JSON value")),
        }
    }

    /// The JSON type of the value at `pos`, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.peek() {
            Some(b'"') => "a string",
            Some(b'-' | b'0'..=b'9') => "a number",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            Some(b'[') => "an array",
            Some(b'{') => "an object",
            _ => "no value",
        }
    }

    /// Fails with [`ErrorKind::InvalidType`] for the value at `pos` if it is
    /// valid JSON, or with the syntax error if it is not.
    pub(crate) fn wrong_type(&mut self, expected: &str, depth: usize) -> Error {
        let start = self.pos;
        let found = self.type_name();
        if let Err(e) = self.value(depth) {
            return e;
        }
        Error::new(ErrorKind::InvalidType)
            .at(self.offset_of(start))
            .with_detail(format!("expected {expected}, found {found}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::ToOwned;
    use std::format;
    use std::string::String;

    fn string(text: &str) -> Result<String> {
        let mut s = Scanner::new(text, 0);
        let token = s.string()?;
        Ok(s.str_of(&token).to_owned())
    }

    #[test]
    fn strings_decode_escapes_and_surrogates() {
        assert_eq!(string(r#""plain""#).unwrap(), "plain");
        assert_eq!(
            string(r#""a\"b\\c\/d\n\u00e9""#).unwrap(),
            "a\"b\\c/d\n\u{e9}"
        );
        assert_eq!(string(r#""\ud83d\ude00""#).unwrap(), "\u{1F600}");
        assert_eq!(
            string("\"\u{e9}t\u{e9} long enough to span several words\"").unwrap(),
            "\u{e9}t\u{e9} long enough to span several words"
        );
        assert!(string(r#""\ud83d""#).is_err());
        assert!(string(r#""\ude00""#).is_err());
        assert!(string(r#""\ud83d\u0041""#).is_err());
        assert!(string(r#""\x""#).is_err());
        assert!(string("\"tab\there\"").is_err());
        assert!(string("\"unterminated").is_err());
        assert!(string("\"unterminated with a long tail\\").is_err());
    }

    #[test]
    fn integers_follow_json_grammar() {
        let int = |t: &str| Scanner::new(t, 0).integer(3).map_err(|e| e.kind());
        assert_eq!(int("0"), Ok(0));
        assert_eq!(int("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(int("18446744073709551616"), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("-1"), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("-0"), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("1.0"), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("1e2"), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("\"1\""), Err(ErrorKind::InvalidInteger));
        assert_eq!(int("01"), Err(ErrorKind::JsonSyntax));
        assert_eq!(int("1."), Err(ErrorKind::JsonSyntax));
        assert_eq!(int("-"), Err(ErrorKind::JsonSyntax));
        assert_eq!(int("+1"), Err(ErrorKind::JsonSyntax));
        assert_eq!(int("1e400"), Err(ErrorKind::JsonSyntax));
        assert_eq!(int("1e-400"), Err(ErrorKind::InvalidInteger));
    }

    #[test]
    fn nesting_stops_at_the_limit_without_recursing_further() {
        let deep = "[".repeat(100_000);
        let err = Scanner::new(&deep, 0).value(0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RecursionLimit);
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(Scanner::new(&ok, 0).value(0).is_ok());
        let too_deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert!(Scanner::new(&too_deep, 0).value(0).is_err());
    }
}
