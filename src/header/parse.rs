//! One pass over the header JSON that builds the tensor table.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use super::{Entry, Metadata, Table, PREFIX_LEN};
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::json::classify::Classes;
use crate::json::scan::{Scanner, Str};
use crate::limits::ParseOptions;

/// Nesting level of the top-level object, of a tensor entry, and of the
/// arrays inside an entry (serde_json counts the outermost object as 1).
const TOP: usize = 1;
const ENTRY: usize = 2;
const ARRAY: usize = 3;

/// The top-level keys the parser knows: only `__metadata__`.
const TOP_KEYS: &[&[u8]] = &[b"\"__metadata__\""];

/// The keys of a tensor entry, in the order of [`Fields`].
const ENTRY_KEYS: &[&[u8]] = &[b"\"dtype\"", b"\"shape\"", b"\"data_offsets\""];

/// The fields of one tensor entry, as far as they have been read.
#[derive(Default)]
struct Fields {
    dtype: Option<Dtype>,
    shape: Option<Range<usize>>,
    offsets: Option<(u64, u64)>,
}

/// The parser's state: the table being built and what was seen so far.
struct Parser<'o> {
    table: Table,
    metadata: Option<Metadata>,
    seen_metadata: bool,
    options: &'o ParseOptions,
    max_tensors: usize,
    /// True while every entry so far was read by [`plain_entry`] and its
    /// span (`end - begin`) equals its shape's byte length.
    spans_checked: bool,
}

/// What the parser found: the table (in the header's order), the metadata,
/// and whether every entry's span was checked already.
pub(super) struct Parsed {
    pub(super) table: Table,
    pub(super) metadata: Option<Metadata>,
    pub(super) spans_checked: bool,
}

/// Parses the header JSON into a table (in file order) and the metadata.
pub(super) fn parse(text: &str, classes: Classes, options: &ParseOptions) -> Result<Parsed> {
    let mut s = Scanner::with_classes(text, PREFIX_LEN as u64, classes);
    // Capacity guesses from the header's length, on the generous side for
    // checkpoint-style entries (about 110 bytes each, a third of them the
    // name), so that the tables are rarely copied while they grow; entries
    // no more than the limit allows. Unused capacity of the arenas is given
    // back at the end; that of the entries (aligned to 64 bytes on 64-bit
    // targets, and such an allocation shrinks only by copying) is kept.
    let max_tensors = options.limits.max_tensors.min(u32::MAX as usize - 1);
    let mut parser = Parser {
        table: Table {
            entries: Vec::with_capacity((text.len() / 96).min(max_tensors)),
            names: String::with_capacity(text.len() / 2),
            shapes: Vec::with_capacity(text.len() / 40),
        },
        metadata: None,
        seen_metadata: false,
        options,
        max_tensors,
        spans_checked: true,
    };
    s.skip_ws();
    match s.peek() {
        Some(b'{') => {}
        None => return Err(s.error(ErrorKind::JsonSyntax, "empty header, expected an object")),
        Some(_) => return Err(s.wrong_type("an object", 0)),
    }
    s.object(TOP_KEYS, |s, key, key_pos| match key.known {
        Some(_) => parser.metadata(s, key_pos),
        None => parser.tensor(s, &key.text, key_pos),
    })?;
    if !s.at_end() {
        return Err(s.error(
            ErrorKind::TrailingCharacters,
            "only JSON whitespace may follow the header's object",
        ));
    }
    let mut table = parser.table;
    table.names.shrink_to_fit();
    table.shapes.shrink_to_fit();
    Ok(Parsed {
        table,
        metadata: parser.metadata,
        spans_checked: parser.spans_checked,
    })
}

impl Parser<'_> {
    /// The value of `__metadata__`: null, or an object of strings.
    fn metadata(&mut self, s: &mut Scanner<'_>, key_pos: usize) -> Result<()> {
        if self.seen_metadata {
            return Err(Error::new(ErrorKind::DuplicateMetadata)
                .at(s.offset_of(key_pos))
                .with_detail("second occurrence"));
        }
        self.seen_metadata = true;
        match s.peek() {
            Some(b'n') => return s.value(TOP),
            Some(b'{') => {}
            _ => return Err(metadata_type(s.wrong_type("an object or null", TOP))),
        }
        let mut map = Metadata::new();
        s.object(&[], |s, key, _| {
            let key = s.str_of(&key.text).to_owned();
            if s.peek() != Some(b'"') {
                let e = metadata_type(s.wrong_type("a string", ENTRY));
                return Err(e.with_detail(format!("value of {key:?} is not a string")));
            }
            let value = s.string()?;
            // Like the reference (a JSON object read into a map), a repeated
            // key keeps the last value.
            map.insert(key, s.str_of(&value).to_owned());
            Ok(())
        })?;
        self.metadata = Some(map);
        Ok(())
    }

    /// A tensor entry named `name`, added to the table.
    fn tensor(&mut self, s: &mut Scanner<'_>, name: &Str, key_pos: usize) -> Result<()> {
        let key_at = s.offset_of(key_pos);
        if self.table.entries.len() >= self.max_tensors {
            return Err(Error::new(ErrorKind::TooManyTensors)
                .at(key_at)
                .with_detail(format!("limit {}", self.max_tensors)));
        }
        let start = self.table.names.len();
        self.table.names.push_str(s.str_of(name));
        let name = start..self.table.names.len();
        let fields = self.fields(s);
        let name_text = || self.table.names[name.clone()].to_owned();
        let (dtype, shape, (begin, end)) = match fields {
            Ok(Fields {
                dtype: Some(dtype),
                shape: Some(shape),
                offsets: Some(offsets),
            }) => (dtype, shape, offsets),
            Ok(fields) => {
                let missing = match fields {
                    Fields { dtype: None, .. } => "dtype",
                    Fields { shape: None, .. } => "shape",
                    _ => "data_offsets",
                };
                return Err(Error::new(ErrorKind::MissingField)
                    .with_tensor(name_text())
                    .at(key_at)
                    .with_detail(format!("no `{missing}`")));
            }
            Err(e) => return Err(e.with_tensor(name_text())),
        };
        self.table.entries.push(Entry {
            name,
            shape,
            begin,
            end,
            key_at,
            dtype,
        });
        Ok(())
    }

    /// The fields of a tensor entry object; the caller checks that every
    /// field was present.
    fn fields(&mut self, s: &mut Scanner<'_>) -> Result<Fields> {
        if s.peek() != Some(b'{') {
            return Err(s.wrong_type("an object with dtype, shape and data_offsets", TOP));
        }
        let options = self.options;
        let shapes = &mut self.table.shapes;
        let plain = hooks::plain_path_on().then(|| plain_entry(s, shapes, options.limits.max_rank));
        if let Some((fields, span_ok)) = plain.flatten() {
            self.spans_checked &= span_ok;
            return Ok(fields);
        }
        self.spans_checked = false;
        let mut fields = Fields::default();
        s.object(ENTRY_KEYS, |s, key, key_pos| {
            let Some(field) = key.known else {
                return unknown_field(s, &key.text, key_pos, options);
            };
            let twice = || {
                let quoted = ENTRY_KEYS[field];
                let name = String::from_utf8_lossy(&quoted[1..quoted.len() - 1]);
                Error::new(ErrorKind::DuplicateField)
                    .at(s.offset_of(key_pos))
                    .with_detail(format!("`{name}` twice"))
            };
            match field {
                0 if fields.dtype.is_some() => return Err(twice()),
                1 if fields.shape.is_some() => return Err(twice()),
                2 if fields.offsets.is_some() => return Err(twice()),
                0 => fields.dtype = Some(dtype(s)?),
                1 => fields.shape = Some(shape(s, shapes, options.limits.max_rank)?),
                _ => fields.offsets = Some(offsets(s)?),
            }
            Ok(())
        })?;
        Ok(fields)
    }
}

/// An entry spelled the way writers spell it,
/// `{"dtype":"F32","shape":[2,4],"data_offsets":[0,32]}` (these keys in this
/// order, no white space, plain integers), read without the general walk.
/// For anything else, errors included, it returns `None` with the scanner
/// and the shape arena as they were, and the caller reads the entry again
/// with the general walk: so this path accepts only what the general one
/// accepts, with the same result, and decides no error. With the fields
/// comes whether the span matches the shape, which validation then need
/// not compute again (a mismatch is left for validation to report).
fn plain_entry(
    s: &mut Scanner<'_>,
    shapes: &mut Vec<usize>,
    max_rank: usize,
) -> Option<(Fields, bool)> {
    let (start, shapes_len) = (s.pos, shapes.len());
    let fields = plain_fields(s, shapes, max_rank);
    if fields.is_none() {
        s.pos = start;
        shapes.truncate(shapes_len);
    }
    fields
}

fn plain_fields(
    s: &mut Scanner<'_>,
    shapes: &mut Vec<usize>,
    max_rank: usize,
) -> Option<(Fields, bool)> {
    if !s.eat(b"{\"dtype\":\"") {
        return None;
    }
    let (name, quote) = s.plain_string_rest()?;
    let dtype = Dtype::from_name(name)?;
    s.pos = quote + 1;
    if !s.eat(b",\"shape\":[") {
        return None;
    }
    let first = shapes.len();
    if !s.eat(b"]") {
        loop {
            if shapes.len() - first >= max_rank {
                return None;
            }
            shapes.push(usize::try_from(s.plain_integer()?).ok()?);
            if s.eat(b"]") {
                break;
            }
            if !s.eat(b",") {
                return None;
            }
        }
    }
    if !s.eat(b",\"data_offsets\":[") {
        return None;
    }
    let begin = s.plain_integer()?;
    if !s.eat(b",") {
        return None;
    }
    let end = s.plain_integer()?;
    if !s.eat(b"]}") || end < begin {
        return None;
    }
    let span_ok = dtype
        .shape_byte_len(&shapes[first..])
        .is_ok_and(|bytes| bytes == end - begin);
    let fields = Fields {
        dtype: Some(dtype),
        shape: Some(first..shapes.len()),
        offsets: Some((begin, end)),
    };
    Some((fields, span_ok))
}

/// A type error in `__metadata__` is an invalid-metadata error at the same
/// place; a syntax error stays a syntax error.
fn metadata_type(e: Error) -> Error {
    if e.kind() == ErrorKind::InvalidType {
        e.retag(ErrorKind::InvalidMetadata)
    } else {
        e
    }
}

/// A field other than the three: skipped, or refused when the options say so.
fn unknown_field(
    s: &mut Scanner<'_>,
    key: &Str,
    key_pos: usize,
    options: &ParseOptions,
) -> Result<()> {
    if options.deny_unknown_fields {
        let field: String = s.str_of(key).chars().take(40).collect();
        return Err(Error::new(ErrorKind::UnknownField)
            .at(s.offset_of(key_pos))
            .with_detail(format!("{field:?}")));
    }
    s.value(ENTRY)
}

/// The `dtype` value: a known dtype name.
fn dtype(s: &mut Scanner<'_>) -> Result<Dtype> {
    if s.peek() != Some(b'"') {
        return Err(s.wrong_type("a dtype name string", ENTRY));
    }
    let value_pos = s.pos;
    let name = s.string()?;
    let name = s.str_of(&name);
    Dtype::from_name(name).ok_or_else(|| {
        let shown: String = name.chars().take(40).collect();
        Error::new(ErrorKind::UnknownDtype)
            .at(s.offset_of(value_pos))
            .with_detail(format!("{shown:?}"))
    })
}

/// The `shape` value: at most `max_rank` dimensions, pushed onto `shapes`.
fn shape(s: &mut Scanner<'_>, shapes: &mut Vec<usize>, max_rank: usize) -> Result<Range<usize>> {
    if s.peek() != Some(b'[') {
        return Err(s.wrong_type("an array of dimensions", ENTRY));
    }
    let start = shapes.len();
    s.array(|s| {
        if shapes.len() - start >= max_rank {
            return Err(s.error(ErrorKind::RankTooLarge, format!("limit {max_rank}")));
        }
        let at = s.pos;
        // Only on a 32-bit target can a u64 not fit: shapes are usize, as
        // the memory they describe is, and such a tensor could never be
        // viewed there.
        let dim = s.integer(ARRAY)?;
        let dim = usize::try_from(dim).map_err(|_| {
            Error::new(ErrorKind::Overflow)
                .at(s.offset_of(at))
                .with_detail(format!(
                    "dimension {dim} does not fit in this target's {}-bit usize",
                    usize::BITS
                ))
        })?;
        shapes.push(dim);
        Ok(())
    })?;
    Ok(start..shapes.len())
}

/// The `data_offsets` value: exactly two integers, begin <= end.
fn offsets(s: &mut Scanner<'_>) -> Result<(u64, u64)> {
    let start = s.pos;
    if s.peek() != Some(b'[') {
        return Err(s.wrong_type("an array [begin, end]", ENTRY));
    }
    let mut values = [0u64; 2];
    let mut count = 0;
    s.array(|s| {
        let value = s.integer(ARRAY)?;
        if let Some(slot) = values.get_mut(count) {
            *slot = value;
        }
        count += 1;
        Ok(())
    })?;
    let [begin, end] = values;
    let fail = |detail: String| {
        Error::new(ErrorKind::InvalidOffsets)
            .at(s.offset_of(start))
            .with_detail(detail)
    };
    if count != 2 {
        return Err(fail(format!("{count} numbers instead of 2")));
    }
    if end < begin {
        return Err(fail(format!("end {end} is before begin {begin}")));
    }
    Ok((begin, end))
}

/// Whether the plain path is tried: always, except in the test that
/// compares it with the general walk.
#[cfg(not(test))]
mod hooks {
    /// Outside tests the plain path is always tried.
    #[inline(always)]
    pub(super) fn plain_path_on() -> bool {
        true
    }
}

#[cfg(test)]
mod hooks {
    use std::cell::Cell;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    use crate::header::Header;
    use crate::limits::ParseOptions;

    std::thread_local! {
        static PLAIN: Cell<bool> = const { Cell::new(true) };
    }

    /// Whether [`super::plain_entry`] is tried (a test can turn it off on
    /// its own thread).
    pub(super) fn plain_path_on() -> bool {
        PLAIN.with(Cell::get)
    }

    /// What parsing `json` gives, in full: every entry, or the error's
    /// kind, position, tensor and text.
    fn outcome(json: &[u8], plain: bool, options: &ParseOptions) -> String {
        PLAIN.with(|p| p.set(plain));
        let result = Header::from_json(json, options);
        PLAIN.with(|p| p.set(true));
        match result {
            Ok(header) => {
                let entries: Vec<String> = header.iter().map(|t| format!("{t:?}")).collect();
                format!(
                    "ok {entries:?} {:?} {}",
                    header.metadata(),
                    header.data_len()
                )
            }
            Err(e) => format!("{e:?} at {:?} tensor {:?}", e.offset(), e.tensor()),
        }
    }

    /// The plain path decides nothing: for a header, every prefix of it and
    /// every single-byte change to it, parsing with and without the plain
    /// path gives the same entries or the same error.
    #[test]
    fn the_plain_path_gives_what_the_general_walk_gives() {
        let header = concat!(
            r#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[17,33]},"#,
            r#""b":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"#,
            r#""c":{"dtype":"BF16","shape":[1,2,1],"data_offsets":[1,5]},"#,
            r#""__metadata__":{"k":"v"},"#,
            r#""d":{"dtype":"F32","shape":[3],"data_offsets":[5,17]}}"#
        );
        let bytes = header.as_bytes();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        cases.push(bytes.to_vec());
        for end in 0..bytes.len() {
            cases.push(bytes[..end].to_vec());
        }
        let replacements = b"0192,:[]{}\" x\\e-.";
        for at in 0..bytes.len() {
            for &r in replacements {
                let mut changed = bytes.to_vec();
                changed[at] = r;
                cases.push(changed);
            }
            let mut longer = bytes.to_vec();
            longer.insert(at, b'7');
            cases.push(longer);
        }
        let extra = [
            r#"{"t":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}"#,
            r#"{"t":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}}"#,
            r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551616]}}"#,
            r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,9999999999999999999]}}"#,
            r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}"#,
            r#"{"t":{"dtype":"F\u0033\u0032","shape":[1],"data_offsets":[0,4]}}"#,
            r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}"#,
            r#"{"t":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
            r#"{"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]}}"#,
            r#"{"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
            r#"{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"t":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}"#,
        ];
        cases.extend(extra.iter().map(|e| e.as_bytes().to_vec()));
        let strict = ParseOptions {
            deny_unknown_fields: true,
            ..ParseOptions::default()
        };
        let mut rank = [ParseOptions::default(), ParseOptions::default()];
        rank[0].limits.max_rank = 0;
        rank[1].limits.max_rank = 1;
        let mut ok = 0;
        for options in [&ParseOptions::default(), &strict, &rank[0], &rank[1]] {
            for case in &cases {
                let plain = outcome(case, true, options);
                let general = outcome(case, false, options);
                assert_eq!(plain, general, "{}", String::from_utf8_lossy(case));
                ok += usize::from(plain.starts_with("ok"));
            }
        }
        // Not every case is an error: the comparison covers accepted files.
        assert!(ok > 10, "{ok} accepted");
    }
}
