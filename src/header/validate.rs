//! The layout rules a parsed table must satisfy: unique names, each
//! tensor's span equal to shape x dtype, and tensors back to back from
//! offset 0 with no hole or overlap.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::parse::Parsed;
use super::{Entry, Header, Table, PREFIX_LEN};
use crate::error::{Error, ErrorKind, Result};
use crate::names::NameTable;

/// Checks the table and builds the header (entries in offset order).
///
/// Errors come in the order of the entries sorted by offset. The fast paths
/// below change how much work that takes, never which error is reported:
/// the name lookup is built in the header's order (names lie one after
/// another in the arena, so the build reads memory in order) and renumbered
/// once the entries are sorted, and spans the parser checked are not
/// checked again; a duplicate name is found again in offset order, as
/// without the fast path.
pub(super) fn validate(parsed: Parsed, header_len: u64) -> Result<Header> {
    let Parsed {
        mut table,
        metadata,
        spans_checked,
    } = parsed;
    let lookup = match name_table(&table) {
        Ok(mut lookup) => {
            if let Some(new) = sort_by_offset(&mut table.entries) {
                lookup.renumber(&new);
            }
            lookup
        }
        Err(_) => {
            sort_by_offset(&mut table.entries);
            name_table(&table)?
        }
    };
    let data_start = header_len.checked_add(PREFIX_LEN as u64).ok_or_else(|| {
        Error::new(ErrorKind::Overflow).with_detail(format!("header of {header_len} bytes"))
    })?;
    let mut cursor: u64 = 0;
    for entry in &table.entries {
        if !spans_checked {
            check_span(&table, entry)?;
        }
        check_start(&table, entry, cursor, data_start)?;
        check_file_end(&table, entry, data_start)?;
        cursor = entry.end;
    }
    Ok(Header {
        header_len,
        data_len: cursor,
        table,
        lookup,
        metadata,
    })
}

/// Sorts the entries by `(begin, end)`, keeping the header's order among
/// equal keys (writers emit entries in offset order, so usually nothing
/// moves). Returns where each entry went (`new[old]`), if any moved.
fn sort_by_offset(entries: &mut Vec<Entry>) -> Option<Vec<u32>> {
    if entries
        .windows(2)
        .all(|w| (w[0].begin, w[0].end) <= (w[1].begin, w[1].end))
    {
        return None;
    }
    // The parser allows at most u32::MAX - 1 entries.
    let mut keys: Vec<(u64, u64, u32)> = (0u32..)
        .zip(entries.iter())
        .map(|(i, e)| (e.begin, e.end, i))
        .collect();
    // The index breaks ties, so this is the stable order by (begin, end).
    keys.sort_unstable();
    let mut new = vec![0u32; keys.len()];
    let mut sorted = Vec::with_capacity(keys.len());
    for (to, &(_, _, from)) in (0u32..).zip(&keys) {
        new[from as usize] = to;
        sorted.push(entries[from as usize].clone());
    }
    *entries = sorted;
    Some(new)
}

/// The name lookup; a name given twice is refused at its second entry.
fn name_table(table: &Table) -> Result<NameTable> {
    let entries = &table.entries;
    NameTable::build(entries.len(), |i| table.name(&entries[i])).map_err(|dup| {
        let entry = &entries[dup];
        Error::new(ErrorKind::DuplicateTensor)
            .with_tensor(table.name(entry))
            .at(entry.key_at)
    })
}

/// `end - begin` must be the tensor's byte length.
fn check_span(table: &Table, entry: &Entry) -> Result<()> {
    let shape = table.shape(entry);
    let bytes = entry
        .dtype
        .shape_byte_len(shape)
        .map_err(|e| e.with_tensor(table.name(entry)).at(entry.key_at))?;
    // The parser refused end < begin.
    let span = entry.end.saturating_sub(entry.begin);
    if span != bytes {
        return Err(Error::new(ErrorKind::SizeMismatch)
            .with_tensor(table.name(entry))
            .at(entry.key_at)
            .with_detail(format!(
                "data_offsets [{}, {}] span {span} bytes, {shape:?} of {} needs {bytes}",
                entry.begin, entry.end, entry.dtype
            )));
    }
    Ok(())
}

/// A tensor must begin exactly where the previous one ended (`cursor`).
fn check_start(table: &Table, entry: &Entry, cursor: u64, data_start: u64) -> Result<()> {
    if entry.begin == cursor {
        return Ok(());
    }
    let kind = if entry.begin > cursor {
        ErrorKind::DataGap
    } else {
        ErrorKind::DataOverlap
    };
    Err(Error::new(kind)
        .with_tensor(table.name(entry))
        .at(data_start.saturating_add(cursor))
        .with_detail(format!(
            "tensor begins at {}, previous data ends at {cursor}",
            entry.begin
        )))
}

/// The file must be able to hold the tensor: `8 + N + end` fits in a `u64`
/// (the sum is the file length once the last tensor is reached, so every
/// file offset computed from this header is exact).
fn check_file_end(table: &Table, entry: &Entry, data_start: u64) -> Result<()> {
    if data_start.checked_add(entry.end).is_some() {
        return Ok(());
    }
    Err(Error::new(ErrorKind::Overflow)
        .with_tensor(table.name(entry))
        .at(entry.key_at)
        .with_detail(format!(
            "data ends at {} after a data section starting at {data_start}: past 2^64 bytes",
            entry.end
        )))
}
