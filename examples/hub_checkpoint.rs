//! A checkpoint on the Hugging Face Hub, without downloading it: list it
//! from its headers, then fetch what one rank of a tensor-parallel group
//! needs of one layer, counting requests and bytes.
//!
//! ```text
//! cargo run --release --example hub_checkpoint --features hf -- [hf://ORG/NAME[@REVISION][/FILE]] [RANK] [RANKS]
//! ```
//!
//! The address defaults to `hf://openai-community/gpt2`; rank 1 of 4. The
//! Hub is configured as huggingface_hub configures it (`HF_ENDPOINT`,
//! `HF_TOKEN`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`). With no network, point
//! `HF_ENDPOINT` at the local test Hub (`tests/hub/README.md`), as CI
//! does, and ask for `hf://tensorsafe/tiny-sharded`.

use std::collections::BTreeMap;

use tensorsafe::remote::hub::{Hub, HubAddress, HubStats};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let address: HubAddress = args
        .next()
        .unwrap_or_else(|| "hf://openai-community/gpt2".to_owned())
        .parse()?;
    let rank: usize = args.next().map_or(Ok(1), |a| a.parse())?;
    let ranks: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    if rank >= ranks {
        return Err(format!("rank {rank} of {ranks}: ranks are counted from 0").into());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let hub = Hub::from_env()?;

    // The listing: the index (if any) and one ranged read per shard.
    let model = runtime.block_on(hub.open(&address))?;
    let listing = hub.stats();
    let checkpoint = model.checkpoint();
    println!("{} at commit {}", model.address(), model.commit());
    let mut parameters: BTreeMap<String, u128> = BTreeMap::new();
    let mut bytes = 0u64;
    for entry in checkpoint.entries() {
        *parameters.entry(entry.dtype().to_string()).or_default() +=
            entry.shape().iter().map(|&d| d as u128).product::<u128>();
        bytes += entry.byte_len();
    }
    let total: u128 = parameters.values().sum();
    println!(
        "  {} tensors in {} file(s), {bytes} tensor bytes, {total} parameters: {parameters:?}",
        checkpoint.len(),
        checkpoint.files().len(),
    );
    report("listing", listing, HubStats::default());

    // One layer: the tensors of the first block (`layers.0.`, `h.0.`,
    // `blocks.0.`), or else every tensor. Matrices are split by rows (rank
    // `rank` of `ranks`); vectors are fetched whole, as each rank needs them.
    let in_layer = |name: &str| {
        [".0.", "layers.0.", "h.0."]
            .iter()
            .any(|p| name.contains(p))
    };
    let layer: Vec<_> = if checkpoint.names().any(in_layer) {
        checkpoint
            .entries()
            .filter(|e| in_layer(e.name()))
            .collect()
    } else {
        checkpoint.entries().collect()
    };
    let before = hub.stats();
    let mut fetched = 0u64;
    for entry in &layer {
        let shape = entry.shape();
        let part = if shape.len() >= 2 && shape[0] >= ranks {
            runtime.block_on(checkpoint.split(entry.name(), 0, rank, ranks))?
        } else {
            runtime.block_on(checkpoint.tensor(entry.name()))?
        };
        fetched += part.data().len() as u64;
        println!(
            "  {:<50} {:>14} -> {:?}",
            entry.name(),
            format!("{shape:?}"),
            part.shape()
        );
    }
    println!(
        "rank {rank} of {ranks}: {} tensors, {fetched} bytes",
        layer.len()
    );
    report("rank's slice of the layer", hub.stats(), before);
    Ok(())
}

/// The requests and bytes between `before` and `now`.
fn report(what: &str, now: HubStats, before: HubStats) {
    println!(
        "{what}: {} requests to the Hub, {} to its CDN, {} retries, {} bytes received, {} reads from the local cache",
        now.hub_requests - before.hub_requests,
        now.cdn_requests - before.cdn_requests,
        now.retries - before.retries,
        now.bytes - before.bytes,
        now.cache_reads - before.cache_reads,
    );
}
