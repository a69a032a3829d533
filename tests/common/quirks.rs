//! The reference crate's known leniencies, read from a file's header, so
//! that a differential check excuses exactly them: where this crate refuses
//! a file the reference accepts, the tensor our error names must have the
//! leniency that error kind stands for. An excused leniency is then taken
//! out of the file (or, for a limit, the limit raised) and the two crates
//! compared again, so that nothing else in the file goes unchecked.
//!
//! The reference reads the header with serde: a struct may be written as a
//! JSON array (`["U8",[1],[0,1]]`), an enum as an object (`{"U8":null}`), a
//! repeated tensor name keeps its last entry (the others are only
//! type-checked), and it has no rank or tensor-count limit. A key repeated
//! elsewhere is no leniency: both crates refuse a field repeated inside an
//! entry (the reference as a duplicate field) and `__metadata__` given
//! twice, and both keep the last value of a key repeated inside
//! `__metadata__`.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value;
use tensorsafe::{Error, ErrorKind, Limits, ParseOptions, SafeTensors};

/// What a crate reads from a file, in a form both crates give: every
/// tensor's dtype, shape and bytes by name, and the metadata.
pub type Contents = (
    BTreeMap<String, (String, Vec<usize>, Vec<u8>)>,
    Option<BTreeMap<String, String>>,
);

/// This crate's reading of `file`.
pub fn ours(file: &[u8], options: &ParseOptions) -> Result<Contents, Error> {
    let st = SafeTensors::deserialize_with(file, options)?;
    let tensors = st
        .iter()
        .map(|(n, v)| {
            (
                n.to_owned(),
                (v.dtype().to_string(), v.shape().to_vec(), v.data().to_vec()),
            )
        })
        .collect();
    Ok((tensors, st.metadata().cloned()))
}

/// The reference's reading of `file`, or `None` where it refuses it.
pub fn reference(file: &[u8]) -> Option<Contents> {
    let st = safetensors::SafeTensors::deserialize(file).ok()?;
    let tensors = st
        .iter()
        .map(|(n, v)| {
            (
                n.to_owned(),
                (
                    format!("{:?}", v.dtype()),
                    v.shape().to_vec(),
                    v.data().to_vec(),
                ),
            )
        })
        .collect();
    let (_, meta) = safetensors::SafeTensors::read_metadata(file).ok()?;
    let metadata = meta.metadata().clone().map(|m| m.into_iter().collect());
    Some((tensors, metadata))
}

/// Both crates agree on `file`: the same verdict and the same contents,
/// except for the reference's leniencies, each taken out in turn.
pub fn agree(file: &[u8]) -> Result<(), String> {
    agree_with(file, ours)
}

/// [`agree`] with `ours` standing for this crate's reader.
pub fn agree_with(
    file: &[u8],
    ours: impl Fn(&[u8], &ParseOptions) -> Result<Contents, Error>,
) -> Result<(), String> {
    let show = |file: &[u8]| format!("{:?}", String::from_utf8_lossy(file));
    let theirs = reference(file);
    let mut file = file.to_vec();
    let mut options = ParseOptions::default();
    // Each round takes out the leniencies of one tensor name or raises the
    // limits, so there are at most two rounds an entry and one more.
    let rounds = header_entries(&file).map_or(0, |(_, e)| e.len()) * 2 + 2;
    for _ in 0..=rounds {
        match (ours(&file, &options), &theirs) {
            (Ok(a), Some(b)) if a == *b => return Ok(()),
            (Ok(a), Some(b)) => {
                return Err(format!(
                    "different contents, ours {a:?}, the reference's {b:?}: {}",
                    show(&file)
                ))
            }
            (Err(_), None) => return Ok(()),
            (Ok(_), None) => {
                return Err(format!("we accept, the reference refuses: {}", show(&file)))
            }
            // Stricter by design (FORMAT.md), and only there: the tensor our
            // error names has the reference's leniency that error stands for.
            (Err(e), Some(_)) => match excuse(&file, &options.limits, &e) {
                None => {
                    return Err(format!(
                        "we refuse ({e}), the reference accepts: {}",
                        show(&file)
                    ))
                }
                Some(Next::Limits(limits)) => options.limits = limits,
                Some(Next::File(rewritten)) => {
                    // The rewrite must not change what the reference reads.
                    if reference(&rewritten) != theirs {
                        return Err(format!(
                            "taking out what {e} stands for changed the reference's \
                             reading: {} became {}",
                            show(&file),
                            show(&rewritten)
                        ));
                    }
                    file = rewritten;
                }
            },
        }
    }
    Err(format!("more leniencies than entries: {}", show(&file)))
}

/// What is left to compare once a leniency is excused.
#[derive(Debug)]
pub enum Next {
    /// The file with the leniency taken out.
    File(Vec<u8>),
    /// The file as it is, read with these limits.
    Limits(Limits),
}

/// True if `err`, our refusal of `file` under the default limits, is one of
/// the reference's leniencies (see [`excuse`]).
pub fn excused(file: &[u8], err: &Error) -> bool {
    excuse(file, &Limits::default(), err).is_some()
}

/// If `err`, our refusal of `file` under `limits`, is one of the
/// reference's leniencies, what to compare next: an entry written as an
/// array or a dtype written as an object (our `InvalidType` for that
/// tensor) is rewritten in the object and string forms; a tensor name
/// given twice (`DuplicateTensor`, or `InvalidOffsets` for reversed offsets
/// inside an entry the reference drops for a later one) keeps only its last
/// entry, as the reference does; a rank over `limits.max_rank`
/// (`RankTooLarge`) or more tensors than `limits.max_tensors`
/// (`TooManyTensors`) raises that limit to what the file needs.
pub fn excuse(file: &[u8], limits: &Limits, err: &Error) -> Option<Next> {
    let (json, entries) = header_entries(file)?;
    let tensors: Vec<&Entry> = entries.iter().filter(|e| e.key != "__metadata__").collect();
    if err.kind() == ErrorKind::TooManyTensors {
        return (tensors.len() > limits.max_tensors).then(|| {
            let mut limits = *limits;
            limits.max_tensors = tensors.len();
            Next::Limits(limits)
        });
    }
    let name = err.tensor()?;
    let named: Vec<&Entry> = tensors.into_iter().filter(|e| e.key == name).collect();
    let (_, hidden) = named.split_last()?;
    match err.kind() {
        ErrorKind::DuplicateTensor if !hidden.is_empty() => {}
        // An entry the reference drops for a later one of the same name
        // has offsets it never checks; our error must be inside one.
        ErrorKind::InvalidOffsets => {
            let at = usize::try_from(err.offset()?).ok()?.checked_sub(8)?;
            if !hidden
                .iter()
                .any(|e| e.value.contains(&at) && reversed(&e.parsed))
            {
                return None;
            }
        }
        ErrorKind::InvalidType => {
            let edits = named
                .iter()
                .filter(|e| invalid_type(&e.parsed))
                .map(|e| Some((e.value.clone(), object_form(json, e)?)))
                .collect::<Option<Vec<_>>>()?;
            return (!edits.is_empty()).then(|| Next::File(edit(file, json, edits)));
        }
        ErrorKind::RankTooLarge => {
            let rank = named.iter().filter_map(|e| rank(&e.parsed)).max()?;
            return (rank > limits.max_rank).then(|| {
                let mut limits = *limits;
                limits.max_rank = rank;
                Next::Limits(limits)
            });
        }
        _ => return None,
    }
    // Every entry of the name but the last goes, from its key to the next
    // entry's key (a hidden entry always has a next one).
    let edits = hidden
        .iter()
        .map(|e| {
            let next = entries.iter().find(|n| n.key_at > e.key_at)?;
            Some((e.key_at..next.key_at, Vec::new()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Next::File(edit(file, json, edits)))
}

/// One top-level entry of the header: its key, where its key begins and
/// its value's span (in the JSON, without the length prefix), and the value.
struct Entry {
    key: String,
    key_at: usize,
    value: Range<usize>,
    parsed: Value,
}

/// The header's JSON and its top-level entries in order, repeated keys
/// kept, or `None` if the header is not a JSON object.
fn header_entries(file: &[u8]) -> Option<(&[u8], Vec<Entry>)> {
    let n = u64::from_le_bytes(file.get(..8)?.try_into().ok()?);
    let json = file.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    let (members, _) = members(json, skip_space(json, 0))?;
    let entries = members
        .into_iter()
        .map(|(key, value)| {
            let key = key?;
            Some(Entry {
                key: serde_json::from_slice(&json[key.clone()]).ok()?,
                key_at: key.start,
                parsed: serde_json::from_slice(&json[value.clone()]).ok()?,
                value,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((json, entries))
}

/// `file` with `edits` (spans of its JSON header and what replaces each,
/// not overlapping) made, and its length prefix set to match.
fn edit(file: &[u8], json: &[u8], mut edits: Vec<(Range<usize>, Vec<u8>)>) -> Vec<u8> {
    edits.sort_by_key(|(span, _)| span.start);
    let mut header = Vec::new();
    let mut from = 0;
    for (span, text) in edits {
        header.extend_from_slice(&json[from..span.start]);
        header.extend_from_slice(&text);
        from = span.end;
    }
    header.extend_from_slice(&json[from..]);
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&file[8 + json.len()..]);
    out
}

/// The entry in the object form with a string dtype, keeping the text of
/// every value but a dtype written as an object, which becomes its key.
fn object_form(json: &[u8], entry: &Entry) -> Option<Vec<u8>> {
    let (members, _) = members(json, entry.value.start)?;
    let dtype = |span: &Range<usize>| -> Option<Vec<u8>> {
        if json[span.start] != b'{' {
            return Some(json[span.clone()].to_vec());
        }
        match &members_of(json, span)?[..] {
            [(Some(key), _)] => Some(json[key.clone()].to_vec()),
            _ => None,
        }
    };
    if entry.parsed.is_array() {
        // Only three items make a struct for the reference.
        let [(_, d), (_, s), (_, o)] = &members[..] else {
            return None;
        };
        let mut out = br#"{"dtype":"#.to_vec();
        out.extend(dtype(d)?);
        out.extend_from_slice(br#","shape":"#);
        out.extend_from_slice(&json[s.clone()]);
        out.extend_from_slice(br#","data_offsets":"#);
        out.extend_from_slice(&json[o.clone()]);
        out.push(b'}');
        return Some(out);
    }
    let mut out = Vec::new();
    let mut from = entry.value.start;
    for (key, value) in &members {
        let key: String = serde_json::from_slice(&json[key.clone()?]).ok()?;
        if key == "dtype" {
            out.extend_from_slice(&json[from..value.start]);
            out.extend(dtype(value)?);
            from = value.end;
        }
    }
    out.extend_from_slice(&json[from..entry.value.end]);
    Some(out)
}

/// An object's or array's members: the key's span (none in an array) and
/// the value's span.
type Members = Vec<(Option<Range<usize>>, Range<usize>)>;

/// The members of the object or array whose span is `span`.
fn members_of(json: &[u8], span: &Range<usize>) -> Option<Members> {
    members(json, span.start).map(|(m, _)| m)
}

/// The members of the object or array beginning at `at` (the key's span
/// for an object, none for an array, and the value's span), and the
/// position after it. Assumes JSON that serde_json accepts.
fn members(json: &[u8], at: usize) -> Option<(Members, usize)> {
    let close = match json.get(at)? {
        b'{' => b'}',
        b'[' => b']',
        _ => return None,
    };
    let mut out = Vec::new();
    let mut i = skip_space(json, at + 1);
    if json.get(i) == Some(&close) {
        return Some((out, i + 1));
    }
    loop {
        let key = if close == b'}' {
            let key = i..string_end(json, i)?;
            i = skip_space(json, key.end);
            if json.get(i) != Some(&b':') {
                return None;
            }
            i = skip_space(json, i + 1);
            Some(key)
        } else {
            None
        };
        let end = value_end(json, i)?;
        out.push((key, i..end));
        i = skip_space(json, end);
        match *json.get(i)? {
            b',' => i = skip_space(json, i + 1),
            c if c == close => return Some((out, i + 1)),
            _ => return None,
        }
    }
}

fn skip_space(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The position after the string beginning at `at`.
fn string_end(json: &[u8], at: usize) -> Option<usize> {
    if json.get(at) != Some(&b'"') {
        return None;
    }
    let mut i = at + 1;
    loop {
        match json.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// The position after the value beginning at `at`.
fn value_end(json: &[u8], at: usize) -> Option<usize> {
    match json.get(at)? {
        b'"' => string_end(json, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match json.get(i)? {
                    b'"' => {
                        i = string_end(json, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while json.get(i).is_some_and(|c| !b" \t\n\r,]}".contains(c)) {
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

/// A field of a tensor entry: by name in an object, by position in an array.
fn field<'v>(entry: &'v Value, position: usize, name: &str) -> Option<&'v Value> {
    match entry {
        Value::Array(items) => items.get(position),
        _ => entry.get(name),
    }
}

/// Whether the entry is written as an array or its dtype as an object.
fn invalid_type(entry: &Value) -> bool {
    entry.is_array() || field(entry, 0, "dtype").is_some_and(Value::is_object)
}

/// The entry's rank.
fn rank(entry: &Value) -> Option<usize> {
    field(entry, 1, "shape")
        .and_then(Value::as_array)
        .map(Vec::len)
}

/// Whether an entry's `data_offsets` end before they begin.
fn reversed(entry: &Value) -> bool {
    let offsets = field(entry, 2, "data_offsets").and_then(Value::as_array);
    match offsets.map(|o| o.iter().map(Value::as_u64).collect::<Vec<_>>()) {
        Some(o) => matches!(o[..], [Some(begin), Some(end)] if end < begin),
        None => false,
    }
}
