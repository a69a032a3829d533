//! The main job on built-in data: write a small GPT-2-shaped checkpoint,
//! open it zero-copy, print what is in it, and check some values.
//!
//! `cargo run --release --example quickstart`

use std::collections::BTreeMap;
use std::time::Instant;

use tensorsafe::half::{bf16, f16};
use tensorsafe::{serialize_to_file, Dtype, Metadata, SafeTensorsFile, TensorView};

/// A tensor to write: its name, dtype, shape and little-endian bytes.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Deterministic "weights": a smooth function of the element index.
fn value(seed: usize, i: usize) -> f32 {
    ((seed * 7919 + i) as f32 * 0.001).sin()
}

fn tensor(name: String, dtype: Dtype, shape: &[usize], seed: usize) -> Owned {
    let count: usize = shape.iter().product();
    let data: Vec<u8> = match dtype {
        Dtype::F32 => (0..count)
            .flat_map(|i| value(seed, i).to_le_bytes())
            .collect(),
        Dtype::BF16 => (0..count)
            .flat_map(|i| bf16::from_f32(value(seed, i)).to_le_bytes())
            .collect(),
        Dtype::F16 => (0..count)
            .flat_map(|i| f16::from_f32(1.0 + value(seed, i) / 8.0).to_le_bytes())
            .collect(),
        Dtype::BOOL => (0..count)
            .map(|i| u8::from(i % shape[shape.len() - 1] <= i / shape[shape.len() - 1]))
            .collect(),
        Dtype::I64 => (0..count)
            .flat_map(|i| (i as i64 + 1000).to_le_bytes())
            .collect(),
        other => unreachable!("quickstart does not use {other}"),
    };
    Owned {
        name,
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

/// GPT-2's tensor layout, scaled down: 3 layers, width 64, 1000 tokens.
fn gpt2() -> Vec<Owned> {
    let (layers, width, vocab, context) = (3, 64, 1000, 128);
    let mut out = vec![
        tensor("wte.weight".into(), Dtype::BF16, &[vocab, width], 1),
        tensor("wpe.weight".into(), Dtype::BF16, &[context, width], 2),
        tensor("ln_f.weight".into(), Dtype::F16, &[width], 3),
        tensor("ln_f.bias".into(), Dtype::F32, &[width], 4),
        tensor("train.step".into(), Dtype::I64, &[], 5),
    ];
    for layer in 0..layers {
        let p = |s: &str| format!("h.{layer}.{s}");
        let seed = 100 * (layer + 1);
        out.extend([
            tensor(p("ln_1.weight"), Dtype::F16, &[width], seed),
            tensor(p("ln_1.bias"), Dtype::F32, &[width], seed + 1),
            tensor(
                p("attn.bias"),
                Dtype::BOOL,
                &[1, 1, context, context],
                seed + 2,
            ),
            tensor(
                p("attn.c_attn.weight"),
                Dtype::BF16,
                &[width, 3 * width],
                seed + 3,
            ),
            tensor(p("attn.c_attn.bias"), Dtype::F32, &[3 * width], seed + 4),
            tensor(
                p("attn.c_proj.weight"),
                Dtype::BF16,
                &[width, width],
                seed + 5,
            ),
            tensor(p("attn.c_proj.bias"), Dtype::F32, &[width], seed + 6),
            tensor(p("ln_2.weight"), Dtype::F16, &[width], seed + 7),
            tensor(p("ln_2.bias"), Dtype::F32, &[width], seed + 8),
            tensor(
                p("mlp.c_fc.weight"),
                Dtype::BF16,
                &[width, 4 * width],
                seed + 9,
            ),
            tensor(p("mlp.c_fc.bias"), Dtype::F32, &[4 * width], seed + 10),
            tensor(
                p("mlp.c_proj.weight"),
                Dtype::BF16,
                &[4 * width, width],
                seed + 11,
            ),
            tensor(p("mlp.c_proj.bias"), Dtype::F32, &[width], seed + 12),
        ]);
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tensorsafe-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("model.safetensors");

    // 1. Write.
    let tensors = gpt2();
    let views = tensors
        .iter()
        .map(|t| {
            Ok((
                t.name.as_str(),
                TensorView::new(t.dtype, &t.shape, &t.data)?,
            ))
        })
        .collect::<Result<Vec<_>, tensorsafe::Error>>()?;
    let mut metadata = Metadata::new();
    metadata.insert("format".into(), "pt".into());
    metadata.insert("model".into(), "gpt2-tiny".into());
    let start = Instant::now();
    serialize_to_file(views, Some(&metadata), &path)?;
    let write_time = start.elapsed();
    let file_len = std::fs::metadata(&path)?.len();
    println!(
        "wrote {} ({} tensors, {file_len} bytes) in {write_time:.2?}\n",
        path.display(),
        tensors.len()
    );

    // 2. Open through the owned, memory-mapped handle and parse the header.
    let start = Instant::now();
    // SAFETY: the file is in a directory this process just created and
    // nothing else writes to it while `model` is alive.
    let model = unsafe { SafeTensorsFile::mmap(&path)? };
    let open_time = start.elapsed();

    // 3. Print what is in it, in file order.
    println!(
        "{:<24} {:<5} {:<18} {:>9}",
        "name", "dtype", "shape", "bytes"
    );
    let mut per_dtype: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut parameters = 0;
    for (name, view) in model.iter() {
        println!(
            "{name:<24} {:<5} {:<18} {:>9}",
            view.dtype().to_string(),
            format!("{:?}", view.shape()),
            view.data().len()
        );
        let entry = per_dtype.entry(view.dtype().to_string()).or_default();
        entry.0 += 1;
        entry.1 += view.data().len();
        parameters += view.element_count();
    }
    println!(
        "\n{} tensors, {parameters} parameters, header {} bytes, data {} bytes",
        model.len(),
        model.header().header_len(),
        model.header().data_len()
    );
    for (dtype, (count, bytes)) in &per_dtype {
        println!("  {dtype:<5} {count:>3} tensors {bytes:>9} bytes");
    }
    println!(
        "metadata: {:?}",
        model.metadata().unwrap_or(&Metadata::new())
    );

    // 4. Check values against what was written.
    let wte = model.tensor("wte.weight")?;
    let decoded = wte.to_f32_vec()?;
    for i in [0, 1, 12_345, decoded.len() - 1] {
        let expected = bf16::from_f32(value(1, i)).to_f32();
        assert_eq!(decoded[i], expected, "wte.weight[{i}]");
    }
    let bias = model.tensor("h.2.mlp.c_fc.bias")?;
    let bias = bias.as_slice::<f32>()?; // zero-copy: the map is page-aligned
    assert_eq!(bias[7], value(310, 7));
    let mask = model.tensor("h.0.attn.bias")?.as_slice::<bool>()?;
    assert!(mask[0] && !mask[1] && mask[128] && mask[129]);
    let step = model.tensor("train.step")?.to_vec::<i64>()?;
    assert_eq!(step, vec![1000]);
    println!("\nvalues check out (wte.weight, h.2.mlp.c_fc.bias, h.0.attn.bias, train.step)");
    println!("open + parse + validate: {open_time:.2?}");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
