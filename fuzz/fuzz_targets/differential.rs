//! Raw bytes -> this crate and the reference crate must agree on accept or
//! reject and on every tensor, except where FORMAT.md (its table
//! of where it is stricter) makes this crate stricter.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/quirks.rs"]
#[allow(dead_code)] // shared with the tests, which use more of it
mod quirks;
use tensorsafe::{ErrorKind, SafeTensors};

/// The reference's verdict, or `None` where it panics: its own sum of a
/// file length past 2^64 overflows (a panic with overflow checks on, as
/// here). The panic is caught with the fuzzer's aborting hook set aside.
fn reference(
    data: &[u8],
) -> Option<Result<safetensors::SafeTensors<'_>, safetensors::SafeTensorError>> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let verdict = std::panic::catch_unwind(|| safetensors::SafeTensors::deserialize(data));
    std::panic::set_hook(hook);
    verdict.ok()
}

fuzz_target!(|data: &[u8]| {
    let ours = SafeTensors::deserialize(data);
    let Some(theirs) = reference(data) else {
        // Only a file length past 2^64 makes it panic; this crate says so.
        let kind = ours.err().map(|e| e.kind());
        assert_eq!(kind, Some(ErrorKind::Overflow), "the reference panicked");
        return;
    };
    if ours.is_err() && theirs.is_err() {
        return;
    }
    // Stricter by design (FORMAT.md), and only there: where we refuse what
    // the reference accepts, the tensor our error names has the reference's
    // leniency that error stands for (an entry written as an array, a dtype
    // written as an object, a repeated name, a rank or tensor count over our
    // default limits), and with it taken out the crates agree on the rest.
    if let Err(failure) = quirks::agree(data) {
        panic!("{failure}");
    }
});
