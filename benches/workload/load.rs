//! Pieces shared by `benches/load.rs` and `examples/load_speed.rs`.

use std::fs::File;
use std::path::Path;

use tensorsafe::{Dtype, Header, LoadOptions, TensorView, Writer};

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

/// `len` pseudo-random bytes (xorshift64, fixed seed): data that no
/// filesystem or allocator can shortcut as zeros.
pub fn pseudo_random(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    data
}

/// Writes a file of about `gib` GiB: U8 tensors of `tensor` pseudo-random
/// bytes each (all the same bytes). Returns the data section's length.
pub fn write_u8_file(path: &Path, gib: f64, tensor: usize) -> tensorsafe::Result<usize> {
    let count = ((gib * (1u64 << 30) as f64) as usize / tensor).max(1);
    let data = pseudo_random(tensor);
    let names: Vec<String> = (0..count).map(|i| format!("t{i}")).collect();
    let views = names
        .iter()
        .map(|n| Ok((n.as_str(), TensorView::new(Dtype::U8, [tensor], &data)?)))
        .collect::<tensorsafe::Result<Vec<_>>>()?;
    Writer::new().to_file(views, path)?;
    Ok(count * tensor)
}
