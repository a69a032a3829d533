//! JSON as this crate reads and writes it, shared by the header, the
//! writer and sharded checkpoints.
//!
//! - [`classify`]: every byte classified in one pass (SIMD on x86_64),
//!   so that scanning finds string ends with a bit search.
//! - [`scan`]: a strict scanner that accepts exactly what `serde_json`
//!   accepts, without an allocation per string.
//! - [`emit`]: output byte-for-byte as `serde_json`'s compact writer
//!   renders it, which is what the reference writer produces.

pub(crate) mod classify;
pub(crate) mod emit;
pub(crate) mod scan;
