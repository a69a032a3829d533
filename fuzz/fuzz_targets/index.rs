//! Raw bytes as a checkpoint's `model.safetensors.index.json` -> opening
//! and verifying the checkpoint never panics, and a name it maps names a
//! plain file beside the index.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tensorsafe::{Checkpoint, INDEX_FILE};

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Memory-backed when available: this target writes a file per input.
        let shm = PathBuf::from("/dev/shm");
        let base = if shm.is_dir() { shm } else { std::env::temp_dir() };
        let dir = base.join(format!("tensorsafe-fuzz-index-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // One real shard, so that indexes naming it can resolve.
        let bytes = tensorsafe::serialize(
            [("a", tensorsafe::TensorView::new(tensorsafe::Dtype::U8, &[1], &[7]).expect("view"))],
            None,
        )
        .expect("serialize");
        std::fs::write(dir.join("model-00001-of-00001.safetensors"), bytes).expect("shard");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let path = dir().join(INDEX_FILE);
    std::fs::write(&path, data).expect("write index");
    let checkpoint = match Checkpoint::open(&path) {
        Ok(checkpoint) => checkpoint,
        Err(e) => {
            // Opening reads every shard's header: a shard the index names
            // is looked for beside the index, nowhere else.
            if let Some(at) = e.path() {
                assert!(at == path || at.parent() == Some(dir().as_path()), "{at:?}");
            }
            return;
        }
    };
    for file in checkpoint.files() {
        assert!(!file.contains('/') && !file.contains('\\') && file != ".." && !file.is_empty());
    }
    let names: Vec<String> = checkpoint.names().map(str::to_owned).collect();
    for name in names.iter().take(8) {
        let _ = checkpoint.tensor(name);
    }
    let _ = checkpoint.verify();
});
