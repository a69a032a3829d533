//! Tensor bytes read a chunk at a time, so that the commands that look at
//! every value (`stats`, `verify --data`, `diff`) need memory for a chunk,
//! not for a file; and the numbers in a chunk.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::PathBuf;

use tensorsafe::{Dtype, Header, TensorInfo, TensorView};

use crate::source::{Shard, Source};
use crate::Failure;

/// Bytes read at a time from a local file: whole elements, at most this
/// many.
pub const CHUNK_BYTES: u64 = 1 << 20;

/// The bytes of the smallest run of whole elements that ends on a byte
/// boundary: 1 for F4 (two elements a byte), 3 for F6 (four elements in
/// three bytes), the element size for the rest.
fn group_bytes(dtype: Dtype) -> u64 {
    let bits = dtype.bits() as u64;
    let mut gcd = (bits, 8u64);
    while gcd.1 != 0 {
        gcd = (gcd.1, gcd.0 % gcd.1);
    }
    bits / gcd.0
}

/// The file ranges of `info`'s bytes, `chunk` bytes or less each and each
/// holding whole elements. The header was checked against its file's
/// length, so the last byte's offset fits in a u64; it is checked here
/// all the same.
pub fn ranges(
    header: &Header,
    info: &TensorInfo<'_>,
    chunk: u64,
) -> Result<impl Iterator<Item = Range<u64>>, Failure> {
    let group = group_bytes(info.dtype()).max(1);
    let step = (chunk / group).max(1) * group;
    let (begin, end) = info.data_offsets();
    let len = end.saturating_sub(begin);
    let start = header.data_start().checked_add(begin);
    let Some(start) = start.filter(|s| s.checked_add(len).is_some()) else {
        return Err(Failure::usage(format!(
            "tensor {:?}: its bytes end past 2^64",
            info.name()
        )));
    };
    // Every offset below is at most `start + len`, which fits.
    Ok((0..len.div_ceil(step)).map(move |k| {
        let lo = k * step;
        start + lo..start + (len - lo).min(step) + lo
    }))
}

/// The length of a chunk's `range`, as a buffer length. Chunks are cut by
/// [`ranges`] (16 MiB at most), so this fails only on a range no caller
/// makes.
pub fn chunk_len(range: &Range<u64>) -> Result<usize, Failure> {
    range
        .end
        .checked_sub(range.start)
        .filter(|&len| len <= MAX_CHUNK)
        .map(|len| len as usize)
        .ok_or_else(|| Failure::usage(format!("a read of bytes {range:?}: not a chunk")))
}

/// The largest chunk a reader is asked for: a remote reader's.
pub const MAX_CHUNK: u64 = 16 << 20;

/// Bytes decoded at a time: whole elements of every dtype (a multiple of
/// 3 and of 16), at most 96 Ki values (768 KiB as f64) even for F4.
const PIECE_BYTES: usize = 3 << 14;

/// A chunk's bytes in pieces to decode one at a time (see `PIECE_BYTES`).
pub fn pieces(bytes: &[u8]) -> std::slice::Chunks<'_, u8> {
    bytes.chunks(PIECE_BYTES)
}

/// Why a read of `at..at + len` stopped, for a line about the file.
pub fn read_failure(e: &std::io::Error, at: u64, len: usize) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!(
            "the file ended within bytes {at}..{} its header promised (did it change?)",
            at.saturating_add(len as u64)
        )
    } else {
        e.to_string()
    }
}

/// Where chunks come from: a local file, or an object in a store.
pub trait ReadChunk {
    /// The bytes of `range`, all of them: a range [`ranges`] cut in chunks
    /// of its source's size ([`Source::chunk`]), or of another source read
    /// beside it (`diff`).
    fn read(&mut self, range: Range<u64>) -> Result<&[u8], Failure>;
    /// Fails if the file is no longer `len` bytes long (it changed while
    /// it was read). An object in a store is pinned to its ETag instead.
    fn check_len(&self, _len: u64) -> Result<(), Failure> {
        Ok(())
    }
}

/// One file, open for reading chunks into a buffer it reuses.
pub struct Reader {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl Reader {
    pub fn open(shard: &Shard<'_>) -> Result<Reader, Failure> {
        let file = File::open(&shard.path)
            .map_err(|e| Failure::unreadable(&shard.path, &e.to_string()))?;
        Ok(Reader {
            path: shard.path.clone(),
            file,
            buf: Vec::new(),
        })
    }
}

/// A reader of one shard of a source, local or remote.
pub type AnyReader<'s> = Box<dyn ReadChunk + 's>;

/// The ranges of `tensors` (of a file with `header`) that a reader with
/// chunks of `chunk` bytes is asked for, in that order: a remote reader's
/// plan ([`Source::reader`]).
pub fn plan<'h>(
    header: &Header,
    tensors: impl IntoIterator<Item = TensorInfo<'h>>,
    chunk: u64,
) -> Result<Vec<Range<u64>>, Failure> {
    let mut plan = Vec::new();
    for info in tensors {
        plan.extend(ranges(header, &info, chunk)?);
    }
    Ok(plan)
}

/// The reader in `slot` if it reads shard `i`, or else a new one on
/// `shard` (the `i`th of `source`, to be read in the ranges `plan` gives),
/// left in `slot`: one open file at a time for a walk in file order.
pub fn reuse<'r, 's>(
    slot: &'r mut Option<(usize, AnyReader<'s>)>,
    source: &'s Source,
    i: usize,
    shard: &Shard<'_>,
    plan: impl FnOnce() -> Result<Vec<Range<u64>>, Failure>,
) -> Result<&'r mut AnyReader<'s>, Failure> {
    let reader = match slot.take() {
        Some((at, reader)) if at == i => reader,
        _ => source.reader(i, shard, plan)?,
    };
    Ok(&mut slot.insert((i, reader)).1)
}

impl ReadChunk for Reader {
    fn check_len(&self, len: u64) -> Result<(), Failure> {
        let now = self
            .file
            .metadata()
            .map_err(|e| Failure::unreadable(&self.path, &e.to_string()))?
            .len();
        if now != len {
            let why = format!("the file has {now} bytes now, {len} when its header was read");
            return Err(Failure::unreadable(&self.path, &why));
        }
        Ok(())
    }

    fn read(&mut self, range: Range<u64>) -> Result<&[u8], Failure> {
        self.buf.resize(chunk_len(&range)?, 0);
        self.file
            .seek(SeekFrom::Start(range.start))
            .and_then(|_| self.file.read_exact(&mut self.buf))
            .map_err(|e| {
                Failure::unreadable(&self.path, &read_failure(&e, range.start, self.buf.len()))
            })?;
        Ok(&self.buf)
    }
}

/// The elements of a chunk of `dtype` as f64, for the dtypes that have
/// numbers: floats (including F8 and F4), integers and BOOL. `None` for F6
/// and C64, which have no single number per element.
pub fn values(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f64>> {
    let elements = (bytes.len() as u64 * 8 / dtype.bits() as u64) as usize;
    TensorView::new(dtype, [elements], bytes)
        .ok()?
        .to_f64_vec()
        .ok()
}

/// NaN and Inf counts of a chunk of a float dtype, from bit patterns where
/// the format is IEEE (C64 as pairs of f32), by decoding otherwise. FP6
/// (OCP MX E2M3, E3M2) encodes neither. `None` if the dtype is not a float
/// or cannot be decoded.
pub fn nonfinite(dtype: Dtype, bytes: &[u8]) -> Option<(u64, u64)> {
    /// Counts words of `N` bytes whose exponent (`exp` mask) is all ones:
    /// NaN if the rest (`man` mask) is not zero, Inf if it is.
    fn ieee<const N: usize>(bytes: &[u8], exp: u64, man: u64) -> (u64, u64) {
        let (mut nan, mut inf) = (0, 0);
        for word in bytes.chunks_exact(N) {
            let mut le = [0u8; 8];
            le[..N].copy_from_slice(word);
            let bits = u64::from_le_bytes(le);
            if bits & exp == exp {
                if bits & man == 0 {
                    inf += 1;
                } else {
                    nan += 1;
                }
            }
        }
        (nan, inf)
    }
    match dtype {
        Dtype::F64 => Some(ieee::<8>(bytes, 0x7ff << 52, (1 << 52) - 1)),
        Dtype::F32 | Dtype::C64 => Some(ieee::<4>(bytes, 0xff << 23, (1 << 23) - 1)),
        Dtype::F16 => Some(ieee::<2>(bytes, 0x1f << 10, (1 << 10) - 1)),
        Dtype::BF16 => Some(ieee::<2>(bytes, 0xff << 7, (1 << 7) - 1)),
        Dtype::F6_E2M3 | Dtype::F6_E3M2 => Some((0, 0)),
        // The rest are byte-sized or smaller: decoded a piece at a time.
        d if d.is_float() => pieces(bytes).try_fold((0, 0), |(nan, inf), part| {
            let xs = values(d, part)?;
            let n = xs.iter().filter(|x| x.is_nan()).count() as u64;
            let i = xs.iter().filter(|x| x.is_infinite()).count() as u64;
            Some((nan + n, inf + i))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_patterns_count_what_decoding_counts() {
        let f32s = [1.0f32, f32::NAN, f32::INFINITY, -f32::INFINITY, -0.0, 3e38];
        let bytes: Vec<u8> = f32s.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(nonfinite(Dtype::F32, &bytes), Some((1, 2)));
        let f64s = [f64::NAN, 1e300, f64::NEG_INFINITY, -f64::NAN];
        let bytes: Vec<u8> = f64s.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(nonfinite(Dtype::F64, &bytes), Some((2, 1)));
        for dtype in [Dtype::F16, Dtype::BF16] {
            // Every 16-bit pattern, against the decoder.
            let bytes: Vec<u8> = (0..=u16::MAX).flat_map(u16::to_le_bytes).collect();
            let xs = values(dtype, &bytes).unwrap();
            let nan = xs.iter().filter(|x| x.is_nan()).count() as u64;
            let inf = xs.iter().filter(|x| x.is_infinite()).count() as u64;
            assert_eq!(nonfinite(dtype, &bytes), Some((nan, inf)), "{dtype}");
        }
        assert_eq!(nonfinite(Dtype::I32, &[0; 4]), None);
    }

    #[test]
    fn a_file_that_changed_length_is_refused() {
        let path = std::env::temp_dir().join(format!("tensorsafe-chunks-{}", std::process::id()));
        std::fs::write(&path, [0u8; 16]).unwrap();
        let shard_header = Header::parse(b"\x02\0\0\0\0\0\0\0{}").unwrap();
        let shard = Shard {
            path: path.clone(),
            header: &shard_header,
        };
        let mut reader = Reader::open(&shard).unwrap();
        assert_eq!(reader.read(4..12).unwrap(), [0; 8]);
        assert!(reader.check_len(16).is_ok());
        std::fs::write(&path, [0u8; 17]).unwrap();
        let failure = reader.check_len(16).unwrap_err();
        assert_eq!(failure.code, 2);
        assert!(
            failure.lines[0].contains("17 bytes now, 16"),
            "{:?}",
            failure.lines
        );
        std::fs::write(&path, [0u8; 10]).unwrap();
        let failure = reader.read(4..12).unwrap_err();
        assert!(
            failure.lines[0].contains("did it change?"),
            "{:?}",
            failure.lines
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn chunks_hold_whole_elements() {
        assert_eq!(group_bytes(Dtype::F4), 1);
        assert_eq!(group_bytes(Dtype::F6_E2M3), 3);
        assert_eq!(group_bytes(Dtype::F32), 4);
        assert_eq!(group_bytes(Dtype::BOOL), 1);
        for dtype in [Dtype::F4, Dtype::F6_E2M3, Dtype::C64, Dtype::F64] {
            assert_eq!(PIECE_BYTES as u64 % group_bytes(dtype), 0, "{dtype}");
        }
        let shape = [3 * CHUNK_BYTES as usize / 2 + 4];
        let data = vec![0u8; shape[0] * 3 / 4];
        let bytes = tensorsafe::serialize(
            [("w", TensorView::new(Dtype::F6_E3M2, shape, &data).unwrap())],
            None,
        )
        .unwrap();
        let header = Header::parse(&bytes).unwrap();
        let info = header.get("w").unwrap();
        let all: Vec<_> = ranges(&header, &info, CHUNK_BYTES).unwrap().collect();
        assert!(all.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].start, header.data_start());
        assert_eq!((all[0].end - all[0].start) % 3, 0);
        assert_eq!(all[1].end, header.file_len());
    }
}
