//! Tensor-parallel loading: each of N ranks takes its part of every weight
//! straight from the file, without copying the rest.
//!
//! `cargo run --release --example tensor_parallel -- [RANKS]`

use tensorsafe::{serialize_to_file, Dtype, SafeTensorsFile, Select, TensorView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ranks: usize = std::env::args().nth(1).map_or(Ok(4), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("tensorsafe-tp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("model.safetensors");

    // A column-parallel and a row-parallel projection, as in a transformer MLP.
    let (hidden, inner) = (64usize, 256usize);
    let up: Vec<u8> = (0..hidden * inner)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let down: Vec<u8> = (0..inner * hidden)
        .flat_map(|i| (-(i as f32)).to_le_bytes())
        .collect();
    serialize_to_file(
        [
            (
                "mlp.up_proj.weight",
                TensorView::new(Dtype::F32, [inner, hidden], &up)?,
            ),
            (
                "mlp.down_proj.weight",
                TensorView::new(Dtype::F32, [hidden, inner], &down)?,
            ),
        ],
        None,
        &path,
    )?;

    let file = SafeTensorsFile::open(&path)?;
    let up = file.tensor("mlp.up_proj.weight")?;
    let down = file.tensor("mlp.down_proj.weight")?;
    for rank in 0..ranks {
        // Column parallel: split the output dimension (rows of up_proj).
        let up_part = up.split(0, rank, ranks)?;
        // Row parallel: split the input dimension (columns of down_proj).
        let down_part = down.split(1, rank, ranks)?;
        let mut buffer = vec![0u8; down_part.byte_len()];
        down_part.copy_into(&mut buffer)?;
        println!(
            "rank {rank}: up_proj {:?} in {} run(s), down_proj {:?} in {} runs, first value {}",
            up_part.shape(),
            up_part.runs().count(),
            down_part.shape(),
            down_part.runs().count(),
            f32::from_le_bytes(buffer[..4].try_into()?)
        );
    }
    // Any selection works the same way: every other row of the first 8.
    let rows = up.slice(&[
        Select::Range {
            start: 0,
            stop: 8,
            step: 2,
        },
        Select::range(0, 4),
    ])?;
    println!(
        "up_proj[0:8:2, 0:4] has shape {:?}, {} bytes",
        rows.shape(),
        rows.byte_len()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
