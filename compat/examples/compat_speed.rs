//! Parse + look up every tensor, through this crate and through the real
//! `safetensors` 0.8.0, alternately in one run: medians and their ratio.
//!
//! `cargo run --release --example compat_speed -- 10000 100000`

#[path = "../../benches/workload/alternate.rs"]
mod alternate;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

/// A header-heavy file: `count` tensors of shape [2, 4] with
/// checkpoint-style names and mixed dtypes, so parsing dominates.
fn checkpoint(count: usize) -> (Vec<String>, Vec<u8>) {
    let dtypes = [Dtype::BF16, Dtype::F32, Dtype::F16, Dtype::U8];
    let zeros = [0u8; 32];
    let names: Vec<String> = (0..count)
        .map(|i| {
            format!(
                "model.layers.{}.experts.{}.w{}.weight",
                i / 384,
                (i / 3) % 128,
                i % 3
            )
        })
        .collect();
    let views = (0..count).map(|i| {
        let dtype = dtypes[i % dtypes.len()];
        // 8 elements of `bitsize` bits take `bitsize` bytes.
        TensorView::new(dtype, vec![2, 4], &zeros[..dtype.bitsize()]).expect("8 elements")
    });
    let bytes = safetensors::serialize(names.iter().zip(views), None).expect("serialize");
    (names, bytes)
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a tensor count"))
        .collect();
    let counts = if counts.is_empty() {
        vec![10_000, 100_000]
    } else {
        counts
    };
    for count in counts {
        let (names, bytes) = checkpoint(count);
        let (ours, theirs, checksum) = alternate::medians(
            15,
            || {
                let st = SafeTensors::deserialize(&bytes).expect("valid");
                names
                    .iter()
                    .map(|n| st.tensor(n).expect("present").data().len())
                    .sum()
            },
            || {
                let st = reference::SafeTensors::deserialize(&bytes).expect("valid");
                names
                    .iter()
                    .map(|n| st.tensor(n).expect("present").data().len())
                    .sum()
            },
        );
        println!("{count} tensors, {} bytes (checksum {checksum}): deserialize + tensor() for every name", bytes.len());
        println!("  compat      {ours:>10.3?}");
        println!("  reference   {theirs:>10.3?}");
        println!(
            "  ratio       {:.2}x",
            theirs.as_secs_f64() / ours.as_secs_f64()
        );
    }
}
