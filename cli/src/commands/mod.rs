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
pub use verify::verify;

use tensorsafe::{Dtype, TensorView};

/// The elements of a tensor as f64, for the dtypes that have numbers:
/// floats (including F8 and F4), integers and BOOL. `None` for F6 and C64.
pub fn values(view: &TensorView<'_>) -> Option<Vec<f64>> {
    fn widen<T: Copy>(v: tensorsafe::Result<Vec<T>>, f: impl Fn(T) -> f64) -> Option<Vec<f64>> {
        v.ok().map(|v| v.into_iter().map(f).collect())
    }
    match view.dtype() {
        Dtype::F64 => widen(view.to_vec::<f64>(), |x| x),
        Dtype::BOOL => widen(view.to_vec::<bool>(), |x| f64::from(u8::from(x))),
        Dtype::U8 => widen(view.to_vec::<u8>(), f64::from),
        Dtype::I8 => widen(view.to_vec::<i8>(), f64::from),
        Dtype::U16 => widen(view.to_vec::<u16>(), f64::from),
        Dtype::I16 => widen(view.to_vec::<i16>(), f64::from),
        Dtype::U32 => widen(view.to_vec::<u32>(), f64::from),
        Dtype::I32 => widen(view.to_vec::<i32>(), f64::from),
        Dtype::U64 => widen(view.to_vec::<u64>(), |x| x as f64),
        Dtype::I64 => widen(view.to_vec::<i64>(), |x| x as f64),
        _ => widen(view.to_f32_vec(), f64::from),
    }
}
