//! Ranged reads from an object store: destinations (byte ranges of objects,
//! each with the buffer it fills) become merged, size-capped requests,
//! fetched with bounded concurrency, every byte's length checked.
//!
//! The order of work: bytes already at hand (the speculative header read
//! fetched the start of each object) are copied first; the rest is sorted,
//! large destinations are cut into parts of at most
//! [`RemoteOptions::part_size`], and neighbours in one object are merged
//! into one request while the gap between them is at most
//! [`RemoteOptions::max_gap`] and the request stays within `part_size`.
//! Each request's response is streamed straight into its destinations (no
//! intermediate buffer), and must bring exactly the bytes asked for from an
//! object of the size and ETag the header read saw.

use std::format;
use std::prelude::rust_2021::*;

use core::ops::Range;
use std::io;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt};

use super::{InObject, RemoteOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::read::Progress;

/// An object to read from, as its header read found it.
pub(crate) struct Object<'a> {
    pub(crate) store: &'a dyn ObjectStore,
    pub(crate) location: &'a Path,
    pub(crate) size: u64,
    pub(crate) e_tag: Option<&'a str>,
    pub(crate) version: Option<&'a str>,
    /// The object's first bytes, already fetched.
    pub(crate) prefix: &'a [u8],
}

/// Bytes `at..at + buf.len()` of object `object` go to `buf`; they belong
/// to tensor `tensor` (named in errors); `counted` if they are tensor
/// bytes (progress counts those only, not headers).
pub(crate) struct Target<'b> {
    pub(crate) object: usize,
    pub(crate) at: u64,
    pub(crate) buf: &'b mut [u8],
    pub(crate) tensor: &'b str,
    pub(crate) counted: bool,
}

impl Target<'_> {
    fn end(&self) -> u64 {
        self.at + self.buf.len() as u64
    }
}

/// One ranged GET, and where its bytes go (sorted, inside `range`; the
/// gaps between them are fetched and dropped).
struct Request<'b> {
    object: usize,
    range: Range<u64>,
    targets: Vec<Target<'b>>,
}

/// The request plan for `targets`: what is left after copying the bytes at
/// hand, cut and merged as the module docs say; and the counted bytes
/// copied.
fn plan<'b>(
    objects: &[Object<'_>],
    targets: Vec<Target<'b>>,
    options: &RemoteOptions,
) -> (Vec<Request<'b>>, u64) {
    let part = options.part_size.max(1);
    let mut rest: Vec<Target<'b>> = Vec::with_capacity(targets.len());
    let mut at_hand = 0u64;
    for mut target in targets {
        at_hand += copy_at_hand(objects[target.object].prefix, &mut target);
        // Cut into parts of at most `part` bytes.
        while target.buf.len() as u64 > part {
            let (head, tail) = core::mem::take(&mut target.buf).split_at_mut(part as usize);
            rest.push(Target {
                object: target.object,
                at: target.at,
                buf: head,
                tensor: target.tensor,
                counted: target.counted,
            });
            target.at += part;
            target.buf = tail;
        }
        if !target.buf.is_empty() {
            rest.push(target);
        }
    }
    rest.sort_by_key(|t| (t.object, t.at));
    let mut requests: Vec<Request<'b>> = Vec::new();
    for target in rest {
        if let Some(last) = requests.last_mut() {
            let near = last.object == target.object
                && target.at >= last.range.end
                && target.at - last.range.end <= options.max_gap
                && target.end() - last.range.start <= part;
            if near {
                last.range.end = target.end();
                last.targets.push(target);
                continue;
            }
        }
        requests.push(Request {
            object: target.object,
            range: target.at..target.end(),
            targets: vec![target],
        });
    }
    (requests, at_hand)
}

/// Copies the bytes of `target` that `prefix` (its object's first bytes)
/// holds, and leaves it the rest; returns the bytes copied if they count.
fn copy_at_hand(prefix: &[u8], target: &mut Target<'_>) -> u64 {
    let Some(start) = usize::try_from(target.at)
        .ok()
        .filter(|&at| at < prefix.len())
    else {
        return 0;
    };
    let n = target.buf.len().min(prefix.len() - start);
    let (here, later) = core::mem::take(&mut target.buf).split_at_mut(n);
    here.copy_from_slice(&prefix[start..start + n]);
    target.buf = later;
    target.at += n as u64;
    if target.counted {
        n as u64
    } else {
        0
    }
}

/// Fills every target: bytes at hand copied, the rest fetched as planned,
/// at most [`RemoteOptions::concurrency`] requests at a time. `progress`
/// is told the counted bytes filled so far and in all (not the gaps
/// fetched between targets), one call at a time.
pub(crate) async fn fetch(
    objects: &[Object<'_>],
    targets: Vec<Target<'_>>,
    options: &RemoteOptions,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    // Only reported as progress; a store claiming absurd sizes cannot make
    // it wrap.
    let total = targets
        .iter()
        .filter(|t| t.counted)
        .fold(0u64, |sum, t| sum.saturating_add(t.buf.len() as u64));
    let (requests, at_hand) = plan(objects, targets, options);
    let progress = Progress::new(progress, total);
    progress.add(at_hand);
    // The futures are made before the stream (not by a closure inside it),
    // so the returned future stays `Send` for any lifetimes.
    let fetches: Vec<_> = requests
        .into_iter()
        .map(|request| fetch_one(&objects[request.object], request, &progress))
        .collect();
    stream::iter(fetches)
        .buffer_unordered(options.concurrency.max(1))
        .try_for_each(|()| async { Ok(()) })
        .await
}

/// One request: its bytes streamed into its targets, checked.
async fn fetch_one(
    object: &Object<'_>,
    request: Request<'_>,
    progress: &Progress<'_>,
) -> Result<()> {
    let Request {
        range, mut targets, ..
    } = request;
    let first = targets.first().map_or("", |t| t.tensor);
    let result = object
        .store
        .get_opts(object.location, get_options(object, range.clone()))
        .await
        .map_err(|e| named(store_error(e, object.location), first))?;
    check_answer(object, &range, &result.meta, &result.range).map_err(|e| named(e, first))?;
    let mut body = result.into_stream();
    let mut filling = Filling {
        targets: &mut targets,
        next: 0,
        pos: range.start,
    };
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| named(store_error(e, object.location), first))?
    {
        let counted = filling
            .take(&chunk, &range)
            .map_err(|detail| named(changed(object.location, detail), first))?;
        progress.add(counted);
    }
    let pos = filling.pos;
    if pos != range.end {
        let short = targets
            .iter()
            .find(|t| t.end() > pos)
            .map_or(first, |t| t.tensor);
        // Name the tensor whose bytes stopped short (`with_tensor` replaces
        // the first one's name).
        let short_read = changed(
            object.location,
            format!(
                "the store sent {} of the {} bytes asked for at {}",
                pos - range.start,
                range.end - range.start,
                range.start
            ),
        )
        .at(pos);
        return Err(named(short_read, short));
    }
    Ok(())
}

/// The store's answer to a ranged read must be about the object the
/// header read saw (same size) and cover exactly the range asked for.
fn check_answer(
    object: &Object<'_>,
    asked: &Range<u64>,
    meta: &ObjectMeta,
    answered: &Range<u64>,
) -> Result<()> {
    if meta.size != object.size {
        return Err(changed(
            object.location,
            format!(
                "the object has {} bytes now, {} when its header was read",
                meta.size, object.size
            ),
        ));
    }
    if answered != asked {
        return Err(changed(
            object.location,
            format!(
                "asked for bytes {}..{}, the store answered with {}..{}",
                asked.start, asked.end, answered.start, answered.end
            ),
        ));
    }
    Ok(())
}

/// A response body being copied into its targets (sorted, inside the
/// request's range), chunk by chunk.
struct Filling<'t, 'b> {
    targets: &'t mut [Target<'b>],
    /// The first target not yet filled.
    next: usize,
    /// The object offset of the next byte to come.
    pos: u64,
}

impl Filling<'_, '_> {
    /// Copies `chunk`, the bytes at `pos`, into the targets it covers, and
    /// says how many went to counted targets; a chunk reaching past the end
    /// of `range` (the request's) is the store sending more than asked, and
    /// the error's detail.
    fn take(&mut self, chunk: &[u8], range: &Range<u64>) -> core::result::Result<u64, String> {
        let pos = self.pos;
        let Some(chunk_end) = pos
            .checked_add(chunk.len() as u64)
            .filter(|&e| e <= range.end)
        else {
            return Err(format!(
                "the store sent more than the {} bytes asked for at {}",
                range.end - range.start,
                range.start
            ));
        };
        let mut counted = 0;
        while let Some(target) = self.targets.get_mut(self.next) {
            if target.at >= chunk_end {
                break;
            }
            let (from, to) = (target.at.max(pos), target.end().min(chunk_end));
            if from < to {
                let into = (from - target.at) as usize..(to - target.at) as usize;
                let out = (from - pos) as usize..(to - pos) as usize;
                target.buf[into].copy_from_slice(&chunk[out]);
                if target.counted {
                    counted += to - from;
                }
            }
            if to < target.end() {
                break;
            }
            self.next += 1;
        }
        self.pos = chunk_end;
        Ok(counted)
    }
}

/// `e`, naming `tensor` (a read of raw bytes names none).
fn named(e: Error, tensor: &str) -> Error {
    if tensor.is_empty() {
        e
    } else {
        e.with_tensor(tensor)
    }
}

/// A ranged GET pinned to the object the header read saw: its ETag (a
/// store refuses the read if the object was replaced since) and version.
pub(crate) fn get_options(object: &Object<'_>, range: Range<u64>) -> GetOptions {
    GetOptions {
        range: Some(GetRange::Bounded(range)),
        if_match: object.e_tag.map(str::to_owned),
        version: object.version.map(str::to_owned),
        ..GetOptions::default()
    }
}

/// The object changed (or a store answered wrongly) between the header read
/// and a data read.
pub(crate) fn changed(location: &Path, detail: String) -> Error {
    Error::new(ErrorKind::FileChanged)
        .with_detail(detail)
        .in_object(location)
}

/// An `object_store` error, as an I/O error naming the object ("not found"
/// and "permission denied" keep their [`io::ErrorKind`]); a failed ETag
/// precondition is [`ErrorKind::FileChanged`]. The store's error is the
/// I/O error's inner error (`io_error().get_ref()`).
pub(crate) fn store_error(err: object_store::Error, location: &Path) -> Error {
    let kind = match err {
        object_store::Error::Precondition { .. } => {
            return changed(
                location,
                format!("the object was replaced since its header was read ({err})"),
            )
        }
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        _ => io::ErrorKind::Other,
    };
    // A Hub read's error says what happened itself, without the store's
    // generic wrapping.
    #[cfg(feature = "hf")]
    let err = match super::hub::hub_source(err) {
        Ok(hub) => return Error::from(io::Error::new(kind, hub)).in_object(location),
        Err(err) => err,
    };
    Error::from(io::Error::new(kind, err)).in_object(location)
}

/// After a ranged read from an object's start failed with `err`: the
/// object's size, when the failure may be the store refusing a range the
/// object is too short for (not "not found", not a permission error) and a
/// `head` finds the object.
pub(crate) async fn refused_size(
    store: &dyn ObjectStore,
    location: &Path,
    err: &object_store::Error,
) -> Option<u64> {
    let plain = matches!(
        err,
        object_store::Error::NotFound { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
    );
    if plain {
        return None;
    }
    #[cfg(feature = "hf")]
    if !super::hub::may_be_short(err) {
        return None;
    }
    store.head(location).await.ok().map(|meta| meta.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use std::vec;

    fn options(part_size: u64, max_gap: u64) -> RemoteOptions {
        RemoteOptions {
            part_size,
            max_gap,
            ..RemoteOptions::default()
        }
    }

    /// Bytes `at..` of object 0 into `buf`, for tensor `tensor`.
    fn target<'b>(at: u64, buf: &'b mut [u8], tensor: &'b str) -> Target<'b> {
        Target {
            object: 0,
            at,
            buf,
            tensor,
            counted: true,
        }
    }

    #[test]
    fn plan_copies_the_prefix_cuts_and_merges() {
        let store = InMemory::new();
        let location = Path::from("x");
        let prefix = [7u8; 10];
        let objects = [Object {
            store: &store,
            location: &location,
            size: 1000,
            e_tag: None,
            version: None,
            prefix: &prefix,
        }];
        let (mut a, mut b, mut c, mut d) =
            (vec![0u8; 20], vec![0u8; 5], vec![0u8; 5], vec![0u8; 250]);
        let targets = vec![
            // Half in the prefix.
            target(5, &mut a, "a"),
            // Touches a's end: merged.
            target(25, &mut b, "b"),
            // 10 bytes after b: merged only with max_gap >= 10.
            target(40, &mut c, "c"),
            // Cut into parts of 100.
            target(500, &mut d, "d"),
        ];
        let (requests, _) = plan(&objects, targets, &options(100, 4));
        let ranges: Vec<_> = requests.iter().map(|r| r.range.clone()).collect();
        assert_eq!(ranges, [10..30, 40..45, 500..600, 600..700, 700..750]);
        drop(requests);
        assert_eq!(a[..5], [7; 5]);
        assert_eq!(a[5..], [0; 15]);

        let (mut e, mut f) = (vec![0u8; 5], vec![0u8; 5]);
        let targets = vec![target(40, &mut f, "f"), target(20, &mut e, "e")];
        let (requests, _) = plan(&objects, targets, &options(100, 15));
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].range, 20..45);
    }

    #[test]
    fn a_body_fills_its_targets_across_chunks_and_refuses_extra_bytes() {
        let (mut a, mut b) = (vec![0u8; 3], vec![0u8; 2]);
        let mut targets = vec![target(10, &mut a, "a"), target(14, &mut b, "b")];
        let mut filling = Filling {
            targets: &mut targets,
            next: 0,
            pos: 10,
        };
        // Bytes 10..16 of the object, in chunks that cut through `a`; byte
        // 13 lies in the gap between the targets.
        filling.take(&[1, 2], &(10..16)).unwrap();
        filling.take(&[3, 0, 4, 5], &(10..16)).unwrap();
        assert_eq!(filling.pos, 16);
        let err = filling.take(&[9], &(10..16)).unwrap_err();
        assert!(
            err.contains("more than the 6 bytes asked for at 10"),
            "{err}"
        );
        drop(targets);
        assert_eq!((a, b), (vec![1, 2, 3], vec![4, 5]));
    }
}
