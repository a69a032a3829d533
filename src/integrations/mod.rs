//! Optional integrations with other crates, each behind its feature.

#[cfg(feature = "ndarray")]
pub(crate) mod ndarray_views;
#[cfg(feature = "serde")]
mod serde_impls;
