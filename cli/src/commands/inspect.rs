//! `tensorsafe inspect`: what is in a file.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use tensorsafe::Header;

use crate::source::{Shard, Source};
use crate::{human, Failure};

/// Largest power of two dividing a file offset, as the tensor's alignment.
pub fn alignment(offset: u64) -> u64 {
    if offset == 0 {
        1 << 20
    } else {
        (1u64 << offset.trailing_zeros()).min(1 << 20)
    }
}

/// What `inspect` shows of a file or checkpoint, local or remote.
pub struct Listing<'a> {
    /// The file or index opened (a path or URL).
    pub path: String,
    /// The index's `metadata.total_size`; a lone file's tensor bytes.
    pub total_size: Option<u64>,
    /// Tensor name -> file name, sorted by tensor name.
    pub weight_map: Vec<(&'a str, &'a str)>,
    /// Every file: its name (as the index names it), its path or URL, and
    /// its header.
    pub files: Vec<(&'a str, String, &'a Header)>,
    /// For a checkpoint on the Hub: where, and what reading it took.
    #[cfg(feature = "remote")]
    pub hub: Option<HubListing>,
}

/// Where on the Hub a listing comes from.
#[cfg(feature = "remote")]
pub struct HubListing {
    /// `hf://ORG/NAME[@REVISION]/FILE`, with the file found.
    pub address: String,
    pub repo_id: String,
    /// `model`, `dataset` or `space`.
    pub repo_type: String,
    pub revision: String,
    pub commit: String,
    /// The index or single file found.
    pub checkpoint: String,
    /// Every file was read from the local Hub cache.
    pub cached: bool,
    pub stats: tensorsafe::remote::hub::HubStats,
}

/// Parameters per dtype, in all, and the files' bytes: what the Hub's
/// model page sums up.
#[cfg(feature = "remote")]
fn sums(files: &[(&str, String, &Header)]) -> (BTreeMap<String, u128>, u128, u64) {
    let mut per_dtype: BTreeMap<String, u128> = BTreeMap::new();
    let (mut all, mut bytes) = (0u128, 0u64);
    for (_, _, header) in files {
        for info in header.iter() {
            let n = info.element_count() as u128;
            let slot = per_dtype.entry(info.dtype().to_string()).or_default();
            *slot = slot.saturating_add(n);
            all = all.saturating_add(n);
        }
        bytes = bytes.saturating_add(header.file_len());
    }
    (per_dtype, all, bytes)
}

impl Listing<'_> {
    /// The one JSON shape for a file and a checkpoint (see the command's
    /// help).
    fn json(&self) -> Result<Value, serde_json::Error> {
        let weight_map: Map<String, Value> = self
            .weight_map
            .iter()
            .map(|(name, file)| ((*name).to_owned(), Value::from(*file)))
            .collect();
        let files = self
            .files
            .iter()
            .map(|(file, _, header)| {
                Ok(serde_json::json!({
                    "file": file,
                    "size": header.file_len(),
                    "header": serde_json::to_value(header)?,
                }))
            })
            .collect::<Result<Vec<Value>, serde_json::Error>>()?;
        #[allow(unused_mut)]
        let mut listing = serde_json::json!({
            "path": self.path,
            "total_size": self.total_size,
            "weight_map": weight_map,
            "files": files,
        });
        #[cfg(feature = "remote")]
        if let Some(hub) = &self.hub {
            let (per_dtype, all, bytes) = sums(&self.files);
            let stats = hub.stats;
            listing["hub"] = serde_json::json!({
                "address": hub.address,
                "repo_id": hub.repo_id,
                "repo_type": hub.repo_type,
                "revision": hub.revision,
                "commit": hub.commit,
                "checkpoint": hub.checkpoint,
                "shards": self.files.len(),
                // Numbers as JSON numbers while they fit u64, as the Hub's
                // API gives them.
                "parameters": per_dtype.iter().map(|(d, n)| (d.clone(), json_count(*n))).collect::<Map<String, Value>>(),
                "total_parameters": json_count(all),
                "size": bytes,
                "cached": hub.cached,
                "requests": {
                    "hub": stats.hub_requests,
                    "cdn": stats.cdn_requests,
                    "retries": stats.retries,
                    "bytes": stats.bytes,
                    "cache_reads": stats.cache_reads,
                },
            });
        }
        Ok(listing)
    }
}

/// A count as a JSON number if it fits u64, else as a string.
#[cfg(feature = "remote")]
fn json_count(n: u128) -> Value {
    u64::try_from(n).map_or_else(|_| Value::from(n.to_string()), Value::from)
}

/// The listing of a file or checkpoint, local or remote.
fn listing<'a>(source: &'a Source, shards: &'a [Shard<'a>]) -> Listing<'a> {
    let (files, total_size, weight_map) = match source {
        Source::Sharded(c) => (
            c.files()
                .iter()
                .zip(shards)
                .map(|(f, s)| (f.as_str(), s.path.display().to_string(), s.header))
                .collect(),
            c.total_size(),
            c.names()
                .map(|n| (n, c.file_of(n).unwrap_or_default()))
                .collect(),
        ),
        Source::File { path, header } => {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let mut map: Vec<(&str, &str)> = header.names().map(|n| (n, name)).collect();
            map.sort_unstable();
            (
                vec![(name, path.display().to_string(), header)],
                Some(header.data_len()),
                map,
            )
        }
        #[cfg(feature = "remote")]
        Source::Remote(remote) => return remote.listing(),
    };
    Listing {
        path: source.path().display().to_string(),
        total_size,
        weight_map,
        files,
        #[cfg(feature = "remote")]
        hub: None,
    }
}

pub fn inspect(path: &Path, as_json: bool, exact: bool) -> Result<u8, Failure> {
    let source = Source::open(path)?;
    let shards = source.shards()?;
    show(&listing(&source, &shards), as_json, exact)
}

/// Prints the tensor table (or the listing as JSON).
fn show(listing: &Listing<'_>, as_json: bool, exact: bool) -> Result<u8, Failure> {
    if as_json {
        let text = listing
            .json()
            .and_then(|v| serde_json::to_string_pretty(&v))
            .map_err(|e| Failure::usage(format!("{}: cannot print as JSON: {e}", listing.path)))?;
        outln!("{text}");
        return Ok(0);
    }
    let headers: Vec<(&str, &Header)> = listing
        .files
        .iter()
        .map(|(_, path, header)| (path.as_str(), *header))
        .collect();
    table(&headers, exact);
    #[cfg(feature = "remote")]
    if let Some(hub) = &listing.hub {
        hub_summary(listing, hub, exact);
    }
    Ok(0)
}

/// What the Hub's model page sums up (parameters per dtype, size,
/// shards), where it came from, and what reading it took.
#[cfg(feature = "remote")]
fn hub_summary(listing: &Listing<'_>, hub: &HubListing, exact: bool) {
    let count = |n: u128| count_for(n, exact);
    let size = |n: u64| size_for(n, exact);
    let (per_dtype, all, bytes) = sums(&listing.files);
    outln!();
    outln!(
        "hub          {} ({})",
        human::escape(&hub.address),
        hub.repo_type
    );
    outln!(
        "commit       {} (revision {})",
        hub.commit,
        human::escape(&hub.revision)
    );
    let shards = listing.files.len() as u64;
    outln!(
        "checkpoint   {}, {}, {}",
        human::escape(&hub.checkpoint),
        human::plural(shards, "file"),
        size(bytes)
    );
    let dtypes: Vec<String> = per_dtype
        .iter()
        .map(|(dtype, n)| format!("{dtype} {}", count(*n)))
        .collect();
    outln!("parameters   {} ({} in all)", dtypes.join(", "), count(all));
    let s = hub.stats;
    if hub.cached && s.hub_requests + s.cdn_requests == 0 {
        outln!("read         from the local Hub cache, no request");
    } else {
        outln!(
            "read         {} to the Hub, {} to its CDN ({} retried), {} received, {} from the local cache",
            human::plural(s.hub_requests, "request"),
            human::plural(s.cdn_requests, "request"),
            s.retries,
            size(s.bytes),
            human::plural(s.cache_reads, "read"),
        );
    }
}

/// A count for people (`147.9M`), or exact.
fn count_for(n: u128, exact: bool) -> String {
    if exact {
        n.to_string()
    } else {
        human::count(n)
    }
}

/// A size for people (`295.7 MB`), or exact (`295700000 bytes`).
fn size_for(n: u64, exact: bool) -> String {
    if exact {
        format!("{n} bytes")
    } else {
        human::bytes(n)
    }
}

/// The tensor table of every file, then totals and metadata: counts and
/// sizes for people (`147.9M`, `295.7 MB`) unless `exact`.
fn table(headers: &[(&str, &Header)], exact: bool) {
    let count = |n: u128| count_for(n, exact);
    let size = |n: u64| size_for(n, exact);
    let (mut tensors, mut parameters, mut file_bytes, mut header_bytes) =
        (0usize, 0u128, 0u64, 0u64);
    let mut per_dtype: BTreeMap<String, (usize, u64)> = BTreeMap::new();
    for (name, header) in headers {
        outln!(
            "{} ({})",
            human::escape(name),
            human::plural(header.len() as u64, "tensor")
        );
        let rows: Vec<[String; 7]> = header
            .iter()
            .map(|info| {
                let offset = header.data_start() + info.data_offsets().0;
                let bytes = info.byte_len();
                [
                    human::escape(info.name()),
                    info.dtype().to_string(),
                    format!("{:?}", info.shape()),
                    count(info.element_count() as u128),
                    if exact {
                        bytes.to_string()
                    } else {
                        human::bytes(bytes)
                    },
                    offset.to_string(),
                    alignment(offset).to_string(),
                ]
            })
            .collect();
        let titles = [
            "name",
            "dtype",
            "shape",
            "parameters",
            "bytes",
            "offset",
            "align",
        ];
        // Names are escaped (no control character reaches the terminal)
        // and measured in terminal columns.
        let mut widths = titles.map(human::width);
        for row in &rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(human::width(cell));
            }
        }
        let line = |cells: [&str; 7]| {
            let [w0, w1, w2, w3, w4, w5, w6] = widths;
            let [name, dtype, shape, parameters, bytes, offset, align] = cells;
            let (name, shape) = (human::pad_right(name, w0), human::pad_right(shape, w2));
            format!(
                "  {name}  {dtype:<w1$}  {shape}  {parameters:>w3$}  {bytes:>w4$}  {offset:>w5$}  {align:>w6$}"
            )
        };
        outln!("{}", line(titles));
        for row in &rows {
            outln!("{}", line(row.each_ref().map(String::as_str)));
        }
        for info in header.iter() {
            tensors += 1;
            parameters = parameters.saturating_add(info.element_count() as u128);
            let entry = per_dtype.entry(info.dtype().to_string()).or_default();
            entry.0 += 1;
            // Headers from a server can claim anything: totals saturate.
            entry.1 = entry.1.saturating_add(info.byte_len());
        }
        file_bytes = file_bytes.saturating_add(header.file_len());
        header_bytes = header_bytes.saturating_add(header.header_len());
    }
    outln!();
    outln!("tensors      {tensors}");
    outln!("parameters   {}", count(parameters));
    // Under "tensors" and "parameters": each dtype, then its count, at
    // least one space apart (F8_E4M3FNUZ is 11 characters).
    let sizes: Vec<String> = per_dtype.values().map(|(_, b)| size(*b)).collect();
    let counts = per_dtype
        .values()
        .map(|(n, _)| n.to_string().len())
        .max()
        .unwrap_or(0);
    let dtypes = per_dtype.keys().map(String::len).max().unwrap_or(0).max(10);
    let sizes_width = sizes.iter().map(String::len).max().unwrap_or(0);
    for ((dtype, (n, _)), bytes) in per_dtype.iter().zip(&sizes) {
        let noun = if *n == 1 { "tensor " } else { "tensors" };
        outln!("  {dtype:<dtypes$} {n:>counts$} {noun}  {bytes:>sizes_width$}");
    }
    outln!(
        "file size    {}{}",
        size(file_bytes),
        if headers.len() > 1 {
            " (all shards)"
        } else {
            ""
        }
    );
    outln!("header size  {}", size(header_bytes));
    match headers.first().and_then(|(_, h)| h.metadata()) {
        Some(metadata) if !metadata.is_empty() => {
            outln!("metadata");
            for (key, value) in metadata {
                outln!("  {}: {}", human::escape(key), human::escape(value));
            }
        }
        Some(_) => outln!("metadata     (empty)"),
        None => outln!("metadata     (none)"),
    }
}
