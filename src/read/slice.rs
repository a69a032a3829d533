//! Lazy N-dimensional slicing of a tensor view into contiguous byte runs.

use crate::dtype::Dtype;
use crate::error::{Error, ErrorKind, Result};

use super::TensorView;

/// What to keep along one dimension, with numpy's semantics for the
/// non-negative cases: a range's bounds are clamped to the dimension, an
/// empty range selects nothing, an index must be in range, a step must not
/// be zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// The whole dimension (`:`).
    All,
    /// One position; the dimension disappears from the result (`i`).
    Index(usize),
    /// `start..stop` every `step` elements (`start:stop:step`).
    Range {
        /// First position (clamped to the dimension).
        start: usize,
        /// End, exclusive (clamped to the dimension).
        stop: usize,
        /// Distance between kept positions; must be at least 1.
        step: usize,
    },
}

impl Select {
    /// `start..stop` with step 1.
    pub fn range(start: usize, stop: usize) -> Self {
        Select::Range {
            start,
            stop,
            step: 1,
        }
    }
}

/// One dimension of the outer (non-contiguous) part of a slice.
#[derive(Debug, Clone, Copy)]
struct Outer {
    start: usize,
    count: usize,
    step: usize,
    /// Elements between consecutive positions of this dimension.
    stride: usize,
}

/// A selection of a tensor: its shape, and its bytes as a lazy sequence of
/// contiguous runs of the underlying buffer.
///
/// ```
/// use tensorsafe::{Dtype, Select, TensorView};
/// let data: Vec<u8> = (0..24).collect();
/// let view = TensorView::new(Dtype::U8, &[2, 3, 4], &data)?;
/// let slice = view.slice(&[Select::All, Select::range(1, 3), Select::Index(0)])?;
/// assert_eq!(slice.shape(), &[2, 2]);
/// assert_eq!(slice.to_vec(), vec![4, 8, 16, 20]);
/// assert_eq!(slice.runs().count(), 4);
/// # Ok::<(), tensorsafe::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Slice<'a> {
    data: &'a [u8],
    dtype: Dtype,
    shape: Vec<usize>,
    outer: Vec<Outer>,
    /// Element offset of the first run's start, before outer positions.
    base: usize,
    /// Elements per run; 0 when the selection is empty.
    run: usize,
}

fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidSlice).with_detail(detail)
}

impl<'a> Slice<'a> {
    pub(crate) fn new(view: &TensorView<'a>, spec: &[Select]) -> Result<Self> {
        let dims = view.shape();
        if spec.len() > dims.len() {
            return Err(invalid(format!(
                "{} selections for a tensor of rank {}",
                spec.len(),
                dims.len()
            )));
        }
        // (start, count, step) per dimension, and the result shape.
        let mut picks = Vec::with_capacity(dims.len());
        let mut shape = Vec::with_capacity(dims.len());
        for (axis, &size) in dims.iter().enumerate() {
            let pick = match spec.get(axis).copied().unwrap_or(Select::All) {
                Select::All => {
                    shape.push(size);
                    (0, size, 1)
                }
                Select::Index(i) => {
                    if i >= size {
                        return Err(invalid(format!(
                            "index {i} out of range for dimension {axis} of size {size}"
                        )));
                    }
                    (i, 1, 1)
                }
                Select::Range { start, stop, step } => {
                    if step == 0 {
                        return Err(invalid(format!("step 0 in dimension {axis}")));
                    }
                    let (start, stop) = (start.min(size), stop.min(size));
                    let count = stop.saturating_sub(start).div_ceil(step);
                    shape.push(count);
                    (start, count, step)
                }
            };
            picks.push(pick);
        }
        // Element strides of the tensor (validated shapes cannot overflow).
        let mut strides = vec![1usize; dims.len()];
        for axis in (0..dims.len().saturating_sub(1)).rev() {
            strides[axis] = strides[axis + 1].saturating_mul(dims[axis + 1]);
        }
        let empty = picks.iter().any(|&(_, count, _)| count == 0);
        // Trailing dimensions kept whole are contiguous with each other...
        let mut inner = dims.len();
        let mut run = 1usize;
        while inner > 0 && picks[inner - 1] == (0, dims[inner - 1], 1) {
            inner -= 1;
            run = run.saturating_mul(dims[inner]);
        }
        // ...and with one more dimension read with step 1.
        let mut base = 0usize;
        if inner > 0 {
            let (start, count, step) = picks[inner - 1];
            if step == 1 || count <= 1 {
                inner -= 1;
                base = start.saturating_mul(strides[inner]);
                run = run.saturating_mul(count);
            }
        }
        let outer = (0..inner)
            .map(|axis| {
                let (start, count, step) = picks[axis];
                Outer {
                    start,
                    count,
                    step,
                    stride: strides[axis],
                }
            })
            .collect();
        let slice = Slice {
            data: view.data(),
            dtype: view.dtype(),
            shape,
            outer,
            base,
            run: if empty { 0 } else { run },
        };
        slice.check_whole_bytes()?;
        Ok(slice)
    }

    /// For F4 and F6, every run must start and end on a byte boundary.
    fn check_whole_bytes(&self) -> Result<()> {
        let bits = self.dtype.bits();
        if bits % 8 == 0 || self.run == 0 {
            return Ok(());
        }
        let first = self
            .outer
            .iter()
            .fold(self.base, |acc, o| acc + o.start * o.stride);
        let moves = self
            .outer
            .iter()
            .filter(|o| o.count > 1)
            .map(|o| o.step * o.stride);
        let cut = [first, self.run]
            .into_iter()
            .chain(moves)
            .any(|elements| elements * bits % 8 != 0);
        if cut {
            return Err(Error::new(ErrorKind::SubByteSlice).with_detail(format!(
                "{} packs {bits}-bit elements; this selection cuts inside a byte",
                self.dtype
            )));
        }
        Ok(())
    }

    /// The shape of the selection (dimensions picked by index are gone).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The dtype of the elements.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Total bytes selected.
    pub fn byte_len(&self) -> usize {
        let runs: usize = self.outer.iter().map(|o| o.count).product();
        runs * self.run * self.dtype.bits() / 8
    }

    /// The selected bytes as contiguous runs of the tensor's buffer, in
    /// row-major order. Computed as it goes: no list of runs is built.
    pub fn runs(&self) -> Runs<'a> {
        Runs {
            data: self.data,
            bits: self.dtype.bits(),
            outer: self.outer.clone(),
            position: vec![0; self.outer.len()],
            base: self.base,
            run: self.run,
            done: self.run == 0,
        }
    }

    /// Copies the selection into `out`, which must be exactly
    /// [`Slice::byte_len`] bytes.
    pub fn copy_into(&self, out: &mut [u8]) -> Result<()> {
        if out.len() != self.byte_len() {
            return Err(invalid(format!(
                "buffer of {} bytes for a slice of {}",
                out.len(),
                self.byte_len()
            )));
        }
        let mut at = 0;
        for run in self.runs() {
            if let Some(dst) = out.get_mut(at..at + run.len()) {
                dst.copy_from_slice(run);
            }
            at += run.len();
        }
        Ok(())
    }

    /// The selection copied into a new buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_len());
        for run in self.runs() {
            out.extend_from_slice(run);
        }
        out
    }
}

/// Iterator over the contiguous byte runs of a [`Slice`].
#[derive(Debug, Clone)]
pub struct Runs<'a> {
    data: &'a [u8],
    bits: usize,
    outer: Vec<Outer>,
    position: Vec<usize>,
    base: usize,
    run: usize,
    done: bool,
}

impl<'a> Iterator for Runs<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let element = self
            .outer
            .iter()
            .zip(&self.position)
            .fold(self.base, |acc, (o, &i)| {
                acc + (o.start + i * o.step) * o.stride
            });
        // Odometer: advance the last outer dimension first.
        self.done = true;
        for (o, i) in self.outer.iter().zip(self.position.iter_mut()).rev() {
            *i += 1;
            if *i < o.count {
                self.done = false;
                break;
            }
            *i = 0;
        }
        let begin = element * self.bits / 8;
        let end = begin + self.run * self.bits / 8;
        // Bounds were proven when the slice was built; stop rather than panic.
        let bytes = self.data.get(begin..end);
        if bytes.is_none() {
            self.done = true;
        }
        bytes
    }
}

impl<'a> TensorView<'a> {
    /// Selects per dimension an index, a range with step, or everything;
    /// missing trailing selections mean everything. Nothing is copied.
    pub fn slice(&self, spec: &[Select]) -> Result<Slice<'a>> {
        Slice::new(self, spec)
    }

    /// The `part`-th of `parts` equal pieces along `dim`, as tensor
    /// parallelism splits a weight across devices. The dimension must divide
    /// evenly.
    ///
    /// ```
    /// use tensorsafe::{Dtype, TensorView};
    /// let data: Vec<u8> = (0..8).collect();
    /// let w = TensorView::new(Dtype::U8, &[2, 4], &data)?;
    /// assert_eq!(w.split(1, 1, 2)?.to_vec(), vec![2, 3, 6, 7]); // columns 2..4 of each row
    /// # Ok::<(), tensorsafe::Error>(())
    /// ```
    pub fn split(&self, dim: usize, part: usize, parts: usize) -> Result<Slice<'a>> {
        let size = *self.shape().get(dim).ok_or_else(|| {
            invalid(format!(
                "dimension {dim} of a rank {} tensor",
                self.shape().len()
            ))
        })?;
        if parts == 0 || part >= parts || size % parts != 0 {
            return Err(invalid(format!(
                "part {part} of {parts} of dimension {dim} of size {size}"
            )));
        }
        let piece = size / parts;
        let mut spec = vec![Select::All; dim + 1];
        spec[dim] = Select::range(part * piece, (part + 1) * piece);
        self.slice(&spec)
    }
}
