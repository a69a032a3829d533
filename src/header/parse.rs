//! One pass over the header JSON that builds the tensor table.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Range;

use super::{Entry, Metadata, Table, PREFIX_LEN};
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::json::scan::{Scanner, Str};
use crate::limits::ParseOptions;

/// Nesting level of the top-level object, of a tensor entry, and of the
/// arrays inside an entry (serde_json counts the outermost object as 1).
const TOP: usize = 1;
const ENTRY: usize = 2;
const ARRAY: usize = 3;

/// The top-level keys matched as bytes: only `__metadata__`.
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
}

/// Parses the header JSON into a table (in file order) and the metadata.
pub(super) fn parse(text: &str, options: &ParseOptions) -> Result<(Table, Option<Metadata>)> {
    let mut s = Scanner::new(text, PREFIX_LEN as u64);
    // Capacity guesses proportional to the header (an entry takes at least
    // 50 bytes of JSON), so growth rarely copies and memory stays bounded.
    let mut parser = Parser {
        table: Table {
            entries: Vec::with_capacity(text.len() / 128),
            names: String::with_capacity(text.len() / 3),
            shapes: Vec::with_capacity(text.len() / 64),
        },
        metadata: None,
        seen_metadata: false,
        options,
        max_tensors: options.limits.max_tensors.min(u32::MAX as usize - 1),
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
    Ok((parser.table, parser.metadata))
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
        let mut fields = Fields::default();
        let shapes = &mut self.table.shapes;
        let options = self.options;
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
