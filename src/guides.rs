//! The README and the guides in `docs/`, compiled and run as doctests
//! (only under `cargo test --doc`), so that no example in them can drift
//! from the code. A guide whose examples need a feature is tested when it
//! is on; every other code block in them is tagged (`sh`, `toml`, `text`,
//! `json`) and so not compiled.

/// `README.md`.
#[cfg(feature = "std")]
#[doc = include_str!("../README.md")]
pub struct Readme;

/// `docs/loading.md`.
#[cfg(feature = "std")]
#[doc = include_str!("../docs/loading.md")]
pub struct Loading;

/// `docs/writing.md`.
#[cfg(feature = "std")]
#[doc = include_str!("../docs/writing.md")]
pub struct Writing;

/// `docs/checkpoints.md`.
#[cfg(feature = "std")]
#[doc = include_str!("../docs/checkpoints.md")]
pub struct Checkpoints;

/// `docs/remote.md`.
#[cfg(feature = "object-store")]
#[doc = include_str!("../docs/remote.md")]
pub struct Remote;

/// `docs/hub.md`.
#[cfg(feature = "hf")]
#[doc = include_str!("../docs/hub.md")]
pub struct Hub;

/// `docs/compat.md`.
#[cfg(feature = "std")]
#[doc = include_str!("../docs/compat.md")]
pub struct Compat;

/// `docs/cli.md`: no Rust, but its blocks must be tagged.
#[doc = include_str!("../docs/cli.md")]
pub struct Cli;

/// `docs/features.md`.
#[doc = include_str!("../docs/features.md")]
pub struct Features;

/// `docs/testing.md`.
#[doc = include_str!("../docs/testing.md")]
pub struct Testing;

/// `docs/fuzzing.md`.
#[doc = include_str!("../docs/fuzzing.md")]
pub struct Fuzzing;

/// `docs/FORMAT.md`.
#[doc = include_str!("../docs/FORMAT.md")]
pub struct Format;

/// `docs/UNSAFE.md`.
#[doc = include_str!("../docs/UNSAFE.md")]
pub struct Unsafe;

/// `BENCHMARKS.md`.
#[doc = include_str!("../BENCHMARKS.md")]
pub struct Benchmarks;
