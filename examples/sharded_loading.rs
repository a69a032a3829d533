//! Sharded checkpoints: split a model into Hugging Face shards, list every
//! tensor from the shards' headers, then load tensors through the index,
//! reading only the shards that are needed.
//!
//! `cargo run --release --example sharded_loading`

use tensorsafe::{Checkpoint, Dtype, TensorView, Writer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tensorsafe-sharded-{}", std::process::id()));

    // 12 layers of 256 KiB each, in shards of at most 1 MB.
    let weight: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    let names: Vec<String> = (0..12)
        .map(|l| format!("model.layers.{l}.weight"))
        .collect();
    let tensors = names
        .iter()
        .map(|n| {
            Ok((
                n.as_str(),
                TensorView::new(Dtype::BF16, [256, 512], &weight)?,
            ))
        })
        .collect::<Result<Vec<_>, tensorsafe::Error>>()?;
    let files = Writer::new().sharded(tensors, &dir, 1_000_000)?;
    println!(
        "wrote {} shards and {}",
        files.len(),
        tensorsafe::INDEX_FILE
    );

    // The index and every shard's header (8 + N bytes each) are read
    // here: the whole tensor table, without a tensor byte...
    let checkpoint = Checkpoint::open(&dir)?;
    println!(
        "index maps {} tensors to {} files",
        checkpoint.len(),
        checkpoint.files().len()
    );
    for (name, entry) in checkpoint.iter().take(3) {
        println!(
            "  {name}: {} {:?}, {} bytes at {:?} of {}",
            entry.dtype(),
            entry.shape(),
            entry.byte_len(),
            entry.byte_range(),
            entry.file().display()
        );
    }
    // ...and only the shard holding layer 7 is read here.
    let layer = checkpoint.tensor("model.layers.7.weight")?;
    println!(
        "model.layers.7.weight: {} {:?} from {}",
        layer.dtype(),
        layer.shape(),
        checkpoint.file_of("model.layers.7.weight").unwrap_or("?")
    );
    // The index checked against every shard's header, then every shard read.
    let all = Checkpoint::open_all(&dir)?;
    let bytes: usize = all
        .names()
        .map(|n| all.tensor(n).map(|t| t.data().len()))
        .sum::<Result<usize, _>>()?;
    println!(
        "read: {} bytes of tensors, total_size {:?}",
        bytes,
        all.total_size()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
