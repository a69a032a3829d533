//! Pieces shared by `benches/load.rs` and `examples/load_speed.rs`.

use std::fs::File;
use std::path::Path;

use tensorsafe::{Header, LoadOptions};

/// Reads one byte per 4 KiB page, so lazily mapped memory is really there.
pub fn touch(bytes: &[u8]) -> u64 {
    bytes.iter().step_by(4096).map(|&b| u64::from(b)).sum()
}

/// The reference crate as candle loads to the CPU: map the file,
/// `deserialize`, copy every tensor into its own `Vec`. Returns the count.
pub fn reference_mmap_copy(path: &Path) -> Result<usize, Box<dyn std::error::Error>> {
    let file = File::open(path)?;
    // SAFETY: the benchmarks' own files; nothing writes them meanwhile.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let st = safetensors::SafeTensors::deserialize(&map)?;
    let owned: Vec<Vec<u8>> = st
        .tensors()
        .into_iter()
        .map(|(_, v)| v.data().to_vec())
        .collect();
    Ok(owned.len())
}

/// `load_into` one arena: tensors get consecutive slices of `arena`, in
/// file order, so `arena` must hold the data section.
pub fn load_into_arena(
    path: &Path,
    arena: &mut [u8],
    options: &LoadOptions,
) -> tensorsafe::Result<Header> {
    let mut rest = arena;
    tensorsafe::load_into(
        path,
        options,
        |t| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(t.byte_len() as usize);
            rest = tail;
            Some(head)
        },
        |_, _| {},
    )
}
