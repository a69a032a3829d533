//! One module per subcommand.

mod bench;
mod diff;
mod inspect;
mod rewrite;
mod shard;
mod stats;
mod verify;

pub use bench::bench;
pub use diff::{diff, tolerance};
pub use inspect::inspect;
#[cfg(feature = "remote")]
pub use inspect::{HubListing, Listing};
pub use rewrite::{align_arg, rewrite};
pub use shard::{merge, shard};
pub use stats::stats;
pub use verify::{verify, Checks};
