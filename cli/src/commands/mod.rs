//! One module per subcommand.

mod bench;
mod diff;
mod inspect;
mod rewrite;
mod shard;
mod stats;
mod verify;

pub use bench::bench;
pub use diff::diff;
pub use inspect::inspect;
pub use rewrite::rewrite;
pub use shard::{merge, shard};
pub use stats::stats;
pub use verify::{verify, Checks};

use tensorsafe::TensorView;

/// The elements of a tensor as f64, for the dtypes that have numbers:
/// floats (including F8 and F4), integers and BOOL. `None` for F6 and C64.
pub fn values(view: &TensorView<'_>) -> Option<Vec<f64>> {
    view.to_f64_vec().ok()
}
