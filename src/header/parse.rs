//! One pass over the header JSON that builds the tensor table.

use super::json::{Scanner, Str};
use super::{Entry, Metadata, PREFIX_LEN};
use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::ParseOptions;

/// Nesting level of the top-level object, of a tensor entry, and of the
/// arrays inside an entry (serde_json counts the outermost object as 1).
const TOP: usize = 1;
const ENTRY: usize = 2;
const ARRAY: usize = 3;

pub(crate) struct RawHeader {
    pub(crate) entries: Vec<Entry>,
    pub(crate) names: String,
    pub(crate) shapes: Vec<usize>,
    pub(crate) metadata: Option<Metadata>,
}

/// A key of a tensor entry.
enum Field {
    Dtype,
    Shape,
    Offsets,
    Other(Str),
}

struct Fields {
    dtype: Option<Dtype>,
    shape: Option<(usize, usize)>,
    offsets: Option<(u64, u64)>,
}

pub(crate) fn parse(text: &str, options: &ParseOptions) -> Result<RawHeader> {
    let mut s = Scanner::new(text, PREFIX_LEN as u64);
    // Capacity guesses proportional to the header (an entry takes at least
    // 50 bytes of JSON), so growth rarely copies and memory stays bounded.
    let mut raw = RawHeader {
        entries: Vec::with_capacity(text.len() / 128),
        names: String::with_capacity(text.len() / 3),
        shapes: Vec::with_capacity(text.len() / 64),
        metadata: None,
    };
    let mut seen_metadata = false;
    let max_tensors = options.limits.tensors().min(u32::MAX as usize - 1);

    s.skip_ws();
    if s.peek() != Some(b'{') {
        return Err(if s.peek().is_none() {
            s.error(ErrorKind::JsonSyntax, "empty header, expected an object")
        } else {
            s.wrong_type("an object", 0)
        });
    }
    s.pos += 1;
    if !s.empty(b'}') {
        loop {
            s.skip_ws();
            let key_pos = s.pos;
            let key = s.string()?;
            s.expect(b':', "':'")?;
            s.skip_ws();
            if s.str_of(&key) == "__metadata__" {
                if seen_metadata {
                    s.pos = key_pos;
                    return Err(s.error(ErrorKind::DuplicateMetadata, "second occurrence"));
                }
                seen_metadata = true;
                raw.metadata = metadata(&mut s)?;
            } else {
                let key_at = s.offset_of(key_pos);
                if raw.entries.len() >= max_tensors {
                    return Err(Error::new(ErrorKind::TooManyTensors)
                        .at(key_at)
                        .with_detail(format!("limit {max_tensors}")));
                }
                let name_start = raw.names.len();
                raw.names.push_str(s.str_of(&key));
                let name = (name_start, raw.names.len());
                let entry = tensor(&mut s, &mut raw.shapes, options)
                    .map_err(|e| e.with_tensor(raw.names.get(name.0..name.1).unwrap_or("")))?;
                let Fields {
                    dtype: Some(dtype),
                    shape: Some(shape),
                    offsets: Some((begin, end)),
                } = entry
                else {
                    let missing = match entry {
                        Fields { dtype: None, .. } => "dtype",
                        Fields { shape: None, .. } => "shape",
                        _ => "data_offsets",
                    };
                    return Err(Error::new(ErrorKind::MissingField)
                        .with_tensor(raw.names.get(name.0..name.1).unwrap_or(""))
                        .at(key_at)
                        .with_detail(format!("no `{missing}`")));
                };
                raw.entries.push(Entry {
                    name,
                    shape,
                    begin,
                    end,
                    key_at,
                    dtype,
                });
            }
            if !s.more(b'}')? {
                break;
            }
        }
    }
    if !s.at_end() {
        return Err(s.error(
            ErrorKind::TrailingCharacters,
            "only JSON whitespace may follow the header's object",
        ));
    }
    Ok(raw)
}

/// The value of `__metadata__`: null, or an object of strings.
fn metadata(s: &mut Scanner<'_>) -> Result<Option<Metadata>> {
    match s.peek() {
        Some(b'n') => {
            s.value(TOP)?;
            return Ok(None);
        }
        Some(b'{') => s.pos += 1,
        _ => {
            let e = s.wrong_type("an object or null", TOP);
            return Err(retag(e, ErrorKind::InvalidMetadata));
        }
    }
    let mut map = Metadata::new();
    if s.empty(b'}') {
        return Ok(Some(map));
    }
    loop {
        s.skip_ws();
        let key = s.string()?;
        let key = s.str_of(&key).to_owned();
        s.expect(b':', "':'")?;
        s.skip_ws();
        if s.peek() != Some(b'"') {
            let e = s.wrong_type("a string", ENTRY);
            return Err(retag(e, ErrorKind::InvalidMetadata)
                .with_detail(format!("value of {key:?} is not a string")));
        }
        let value = s.string()?;
        // Like the reference (a JSON object read into a map), a repeated key keeps the last value.
        map.insert(key, s.str_of(&value).to_owned());
        s.skip_ws();
        match s.peek() {
            Some(b',') => s.pos += 1,
            Some(b'}') => {
                s.pos += 1;
                return Ok(Some(map));
            }
            _ => return Err(s.error(ErrorKind::JsonSyntax, "expected ',' or '}'")),
        }
    }
}

/// Type errors keep their position but take a more specific kind; syntax
/// errors stay syntax errors.
fn retag(e: Error, kind: ErrorKind) -> Error {
    if e.kind() != ErrorKind::InvalidType {
        return e;
    }
    let mut out = Error::new(kind);
    if let Some(at) = e.offset() {
        out = out.at(at);
    }
    if let Some(detail) = e.detail() {
        out = out.with_detail(detail.to_owned());
    }
    out
}

/// A tensor entry object; the caller checks that every field was present.
fn tensor(s: &mut Scanner<'_>, shapes: &mut Vec<usize>, options: &ParseOptions) -> Result<Fields> {
    let mut fields = Fields {
        dtype: None,
        shape: None,
        offsets: None,
    };
    if s.peek() != Some(b'{') {
        return Err(s.wrong_type("an object with dtype, shape and data_offsets", TOP));
    }
    s.pos += 1;
    if s.empty(b'}') {
        return Ok(fields);
    }
    loop {
        s.skip_ws();
        let key_pos = s.pos;
        // Writers spell the three keys without escapes: match those bytes
        // directly, and decode any other key as a string.
        let field = if s.eat(b"\"dtype\"") {
            Field::Dtype
        } else if s.eat(b"\"shape\"") {
            Field::Shape
        } else if s.eat(b"\"data_offsets\"") {
            Field::Offsets
        } else {
            let key = s.string()?;
            match s.str_of(&key) {
                "dtype" => Field::Dtype,
                "shape" => Field::Shape,
                "data_offsets" => Field::Offsets,
                _ => Field::Other(key),
            }
        };
        s.expect(b':', "':'")?;
        s.skip_ws();
        let duplicate = |s: &mut Scanner<'_>, field: &str| {
            s.pos = key_pos;
            s.error(ErrorKind::DuplicateField, format!("`{field}` twice"))
        };
        match field {
            Field::Dtype => {
                if fields.dtype.is_some() {
                    return Err(duplicate(s, "dtype"));
                }
                if s.peek() != Some(b'"') {
                    return Err(s.wrong_type("a dtype name string", ENTRY));
                }
                let value_pos = s.pos;
                let name = s.string()?;
                let name = s.str_of(&name);
                fields.dtype = Some(Dtype::from_name(name).ok_or_else(|| {
                    let shown: String = name.chars().take(40).collect();
                    Error::new(ErrorKind::UnknownDtype)
                        .at(s.offset_of(value_pos))
                        .with_detail(format!("{shown:?}"))
                })?);
            }
            Field::Shape => {
                if fields.shape.is_some() {
                    return Err(duplicate(s, "shape"));
                }
                if s.peek() != Some(b'[') {
                    return Err(s.wrong_type("an array of dimensions", ENTRY));
                }
                s.pos += 1;
                let start = shapes.len();
                if !s.empty(b']') {
                    loop {
                        s.skip_ws();
                        if shapes.len() - start >= options.limits.rank() {
                            return Err(s.error(
                                ErrorKind::RankTooLarge,
                                format!("limit {}", options.limits.rank()),
                            ));
                        }
                        let at = s.pos;
                        let dim = s.integer(ARRAY)?;
                        let dim = usize::try_from(dim).map_err(|_| {
                            Error::new(ErrorKind::InvalidInteger)
                                .at(s.offset_of(at))
                                .with_detail("dimension does not fit in usize")
                        })?;
                        shapes.push(dim);
                        if !s.more(b']')? {
                            break;
                        }
                    }
                }
                fields.shape = Some((start, shapes.len()));
            }
            Field::Offsets => {
                if fields.offsets.is_some() {
                    return Err(duplicate(s, "data_offsets"));
                }
                fields.offsets = Some(offsets(s)?);
            }
            Field::Other(key) => {
                if options.deny_unknown_fields {
                    let field: String = s.str_of(&key).chars().take(40).collect();
                    s.pos = key_pos;
                    return Err(s.error(ErrorKind::UnknownField, format!("{field:?}")));
                }
                s.value(ENTRY)?;
            }
        }
        if !s.more(b'}')? {
            return Ok(fields);
        }
    }
}

/// `[begin, end]`: exactly two integers, begin <= end.
fn offsets(s: &mut Scanner<'_>) -> Result<(u64, u64)> {
    let start = s.pos;
    if s.peek() != Some(b'[') {
        return Err(s.wrong_type("an array [begin, end]", ENTRY));
    }
    s.pos += 1;
    let mut values = [0u64; 2];
    let mut count = 0;
    if !s.empty(b']') {
        loop {
            s.skip_ws();
            let value = s.integer(ARRAY)?;
            if let Some(slot) = values.get_mut(count) {
                *slot = value;
            }
            count += 1;
            if !s.more(b']')? {
                break;
            }
        }
    }
    let [begin, end] = values;
    if count != 2 {
        s.pos = start;
        return Err(s.error(
            ErrorKind::InvalidOffsets,
            format!("{count} numbers instead of 2"),
        ));
    }
    if end < begin {
        s.pos = start;
        return Err(s.error(
            ErrorKind::InvalidOffsets,
            format!("end {end} is before begin {begin}"),
        ));
    }
    Ok((begin, end))
}
