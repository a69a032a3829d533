//! Streams a large checkpoint to disk through `StreamWriter` with memory
//! that does not grow with the checkpoint: only the header and one 1 MiB
//! chunk are held at a time.
//!
//! `cargo run --release --example stream_checkpoint -- [GIB] [DIR]`
//! (defaults: 4 GiB into the system temporary directory; the file is
//! removed afterwards). Measure peak memory with
//! `/usr/bin/time -v target/release/examples/stream_checkpoint`.

use std::time::Instant;

use std::io::{Read, Seek, SeekFrom};

use tensorsafe::{Declaration, Dtype, Header, Metadata, Writer};

const CHUNK: usize = 1 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gib: f64 = std::env::args().nth(1).map_or(Ok(4.0), |a| a.parse())?;
    let dir = std::env::args()
        .nth(2)
        .map_or_else(std::env::temp_dir, Into::into)
        .join(format!("tensorsafe-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("model.safetensors");

    // 64 MiB BF16 matrices: [4096, 8192] elements each.
    let (rows, cols) = (4096usize, 8192usize);
    let tensor_bytes = rows * cols * 2;
    let count = ((gib * (1u64 << 30) as f64) as usize / tensor_bytes).max(1);
    let declarations: Vec<Declaration> = (0..count)
        .map(|i| {
            Declaration::new(
                format!("model.layers.{}.mlp.w{}", i / 3, i % 3),
                Dtype::BF16,
                [rows, cols],
            )
        })
        .collect();
    let mut metadata = Metadata::new();
    metadata.insert("format".into(), "pt".into());

    let start = Instant::now();
    let mut writer = Writer::new()
        .metadata(&metadata)
        .stream_to_file(&path, declarations.clone())?;
    // One reusable chunk: in a training job this would come from the device.
    let mut chunk = vec![0u8; CHUNK];
    for (i, declaration) in declarations.iter().enumerate() {
        for c in 0..tensor_bytes / CHUNK {
            chunk[..8].copy_from_slice(&((i * 1_000_003 + c) as u64).to_le_bytes());
            writer.write(&declaration.name, &chunk)?;
        }
    }
    writer.finish()?.commit()?;
    let elapsed = start.elapsed();
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "streamed {count} tensors, {bytes} bytes in {elapsed:.2?} ({:.2} GB/s)",
        bytes as f64 / elapsed.as_secs_f64() / 1e9
    );

    // Check it without loading it: the header, the length, and the first
    // bytes of the last tensor.
    let mut file = std::fs::File::open(&path)?;
    let header = Header::read_from(&mut file)?;
    header.check_file_len(file.metadata()?.len())?;
    let last = declarations.last().ok_or("no tensors")?;
    let info = header.get(&last.name).ok_or("last tensor missing")?;
    file.seek(SeekFrom::Start(header.data_start() + info.data_offsets().0))?;
    let mut first = [0u8; 8];
    file.read_exact(&mut first)?;
    assert_eq!(u64::from_le_bytes(first), ((count - 1) * 1_000_003) as u64);
    println!(
        "verified: {} tensors, layout and contents as streamed",
        header.len()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
