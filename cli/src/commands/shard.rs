//! `tensorsafe shard` and `tensorsafe merge`: the Hugging Face sharded layout.

use std::io::Write;
use std::path::Path;

use tensorsafe::{Declaration, Header, Writer, INDEX_FILE};

use crate::lazy::{FileTensor, Files};
use crate::source::{locate, read_header, Shard, Source, Target};
use crate::{human, progress, Failure};

/// The one file `input` names (a file, a directory holding one
/// `.safetensors` file and no index, or a URL of one file), its header
/// read. A sharded checkpoint is a usage error that says what to do
/// instead.
pub fn single_file(input: &Path, instead: &str) -> Result<Source, Failure> {
    let sharded = || {
        Failure::usage(format!(
            "{}: a sharded checkpoint, not a file ({instead})",
            input.display()
        ))
    };
    if is_url(input) {
        let source = Source::open(input)?;
        return if source.is_sharded() {
            Err(sharded())
        } else {
            Ok(source)
        };
    }
    if let Err(e) = std::fs::metadata(input) {
        return Err(Failure::unreadable(input, &e.to_string()));
    }
    match locate(input)? {
        Target::File(path) => {
            let header = read_header(&path)?;
            Ok(Source::File { path, header })
        }
        Target::Checkpoint => Err(sharded()),
    }
}

/// The header of a source [`single_file`] opened: its only shard's.
pub fn only_header<'s>(source: &Source, shards: &[Shard<'s>]) -> Result<&'s Header, Failure> {
    match shards {
        [shard] => Ok(shard.header),
        _ => Err(Failure::usage(format!(
            "{}: not one file",
            source.path().display()
        ))),
    }
}

/// Whether `input` is a URL (with the `remote` feature; else every
/// argument is a local path).
fn is_url(input: &Path) -> bool {
    #[cfg(feature = "remote")]
    return crate::remote::is_url(input);
    #[cfg(not(feature = "remote"))]
    return {
        let _ = input;
        false
    };
}

/// Counts the bytes written to it, and keeps none.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len() as u64);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `views` in the order the writer lays out a file (dtype descending,
/// then name, as [`Writer`] documents), and the length of the prefix and
/// header it would write for all of them in that order with `metadata`:
/// rendered by the writer itself, into a counter.
///
/// Given the tensors in that order, `Writer::sharded` makes each shard a
/// run of consecutive tensors, and lays each shard out in the same order
/// again. A shard's header then lists some of these entries, in the same
/// order, at offsets no larger (they start from 0 at the run's first
/// tensor), with the same metadata: it is no longer than this header. So
/// a shard of at most `max - header` tensor bytes is a file of at most
/// `max` bytes.
fn in_writer_order<'s, 'a>(
    mut views: Vec<(&'s str, FileTensor<'s, 'a>)>,
    metadata: Option<&tensorsafe::Metadata>,
) -> tensorsafe::Result<(Vec<(&'s str, FileTensor<'s, 'a>)>, u64)> {
    use tensorsafe::View;
    crate::lazy::writer_sort(&mut views, None, |(name, view)| {
        (name, view.dtype(), view.data_len() as u64)
    });
    let declared = views
        .iter()
        .map(|(name, view)| Declaration::new(*name, view.dtype(), view.shape()));
    let mut count = Count::default();
    // The header is written when the stream starts; no tensor byte is.
    drop(
        Writer::new()
            .metadata(metadata)
            .stream(&mut count, declared)?,
    );
    Ok((views, count.0))
}

/// The largest tensor of the shard at `path`, in bytes (its header read).
fn largest_tensor(path: &Path) -> Option<u64> {
    let header = read_header(path).ok()?;
    header.iter().map(|t| t.byte_len()).max()
}

pub fn shard(input: &Path, out_dir: &Path, max_size: &str) -> Result<u8, Failure> {
    let max = human::parse_size(max_size)
        .map_err(|e| Failure::usage(format!("--max-shard-size: {e}")))?;
    let source = single_file(
        input,
        "to shard it at another size, join it first with `tensorsafe merge`, then shard that file",
    )?;
    let shards = source.shards()?;
    let (input, header) = (source.path(), only_header(&source, &shards)?);
    let files = Files::new(&source, &shards, None);
    let (views, header_len) = in_writer_order(files.views(&shards), header.metadata())
        .map_err(|e| Failure::from_error(input, &e))?;
    let budget = max
        .checked_sub(header_len)
        .filter(|&b| b > 0)
        .ok_or_else(|| {
            Failure::usage(format!(
                "--max-shard-size: {max} bytes leave no room for tensors beside a shard's \
                 8-byte length and header of up to {} bytes (as this tool writes the header \
                 of {})",
                header_len.saturating_sub(tensorsafe::PREFIX_LEN as u64),
                input.display()
            ))
        })?;
    let bar = progress::bytes(header.data_len(), "sharding");
    let written = Writer::new()
        .metadata(header.metadata())
        .progress(|written, _| bar.set_position(written))
        .sharded(views, out_dir, budget)
        .map_err(|e| files.write_failure(&shards, out_dir, &e))?;
    bar.finish_and_clear();
    outln!(
        "{}: {}, {}, {} of tensors",
        out_dir.join(INDEX_FILE).display(),
        human::plural(written.len() as u64, "shard"),
        human::plural(header.len() as u64, "tensor"),
        human::bytes(header.data_len())
    );
    // Only a shard of one tensor too large to fit beside its own header
    // can be larger than the limit (empty tensors may join it).
    for file in &written {
        let path = out_dir.join(file);
        if let Ok(len) = std::fs::metadata(&path).map(|m| m.len()) {
            if len > max {
                let tensor = largest_tensor(&path).unwrap_or(len);
                errln!(
                    "{}: {len} bytes, over --max-shard-size: a tensor of {tensor} bytes does \
                     not fit in {max} bytes beside its header",
                    path.display(),
                );
            }
        }
    }
    Ok(0)
}

pub fn merge(input: &Path, output: &Path) -> Result<u8, Failure> {
    let single = || {
        Failure::usage(format!(
            "{}: not a sharded checkpoint (use rewrite)",
            input.display()
        ))
    };
    // Before anything is read: a single file is rewritten, not merged.
    if !is_url(input) {
        if let Err(e) = std::fs::metadata(input) {
            return Err(Failure::unreadable(input, &e.to_string()));
        }
        if let Target::File(_) = locate(input)? {
            return Err(single());
        }
    }
    // Opening checks every header, length and the index; a whole
    // checkpoint is rewritten, so verify the rest (total_size, no stray
    // shard) first.
    let source = Source::open(input)?;
    if !source.is_sharded() {
        return Err(single());
    }
    source.verify()?;
    let shards = source.shards()?;
    let files = Files::new(&source, &shards, None);
    let tensors = files.views(&shards);
    let total = shards
        .iter()
        .map(|s| s.header.data_len())
        .fold(0u64, u64::saturating_add);
    let bar = progress::bytes(total, "merging");
    let count = tensors.len();
    Writer::new()
        .metadata(source.metadata()?)
        .progress(|written, _| bar.set_position(written))
        .to_file(tensors, output)
        .map_err(|e| files.write_failure(&shards, output, &e))?;
    bar.finish_and_clear();
    outln!(
        "{}: {} from {}",
        output.display(),
        human::plural(count as u64, "tensor"),
        human::plural(shards.len() as u64, "shard")
    );
    Ok(0)
}
