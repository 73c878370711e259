//! The one data-movement loop behind RESHAPE-free layout ops (STRIDED_SLICE, SLICE,
//! TRANSPOSE, PAD, TILE, BROADCAST_TO, EXPAND_DIMS...): a box of elements copied from
//! one strided view to another, whatever the element type, since these ops never look
//! at the values.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::common::check_len;

/// Copies the elements of a strided box of `src` into a strided box of `dst`: element
/// `idx` of the box (an index over `shape`) goes from `src_start + Σ idx·src_strides` to
/// `dst_start + Σ idx·dst_strides`. Strides may be negative (reversed slices) or zero.
/// Construction simplifies the box (drops unit dims, merges contiguous dims) and checks
/// that every offset lies inside the buffers, so `run` cannot index out of range.
#[derive(Clone, Debug)]
pub struct StridedCopy {
    shape: Vec<usize>,
    src_strides: Vec<isize>,
    dst_strides: Vec<isize>,
    src_start: isize,
    dst_start: isize,
    src_len: usize,
    dst_len: usize,
    empty: bool,
}

impl StridedCopy {
    pub fn new(
        shape: &[usize],
        (src_strides, src_start, src_len): (&[isize], usize, usize),
        (dst_strides, dst_start, dst_len): (&[isize], usize, usize),
    ) -> Result<StridedCopy, KernelError> {
        if src_strides.len() != shape.len() || dst_strides.len() != shape.len() {
            kbail!("internal: strided copy rank mismatch");
        }
        let empty = shape.contains(&0);
        let mut dims: Vec<(usize, isize, isize)> = Vec::new();
        for ((&n, &ss), &ds) in shape.iter().zip(src_strides).zip(dst_strides) {
            if n == 1 {
                continue;
            }
            if let Some(last) = dims.last_mut() {
                // The previous (outer) dim steps over exactly this whole dim in both
                // buffers: the two are one longer dim.
                if last.1 == ss * n as isize && last.2 == ds * n as isize {
                    last.0 *= n;
                    last.1 = ss;
                    last.2 = ds;
                    continue;
                }
            }
            dims.push((n, ss, ds));
        }
        let copy = StridedCopy {
            shape: dims.iter().map(|d| d.0).collect(),
            src_strides: dims.iter().map(|d| d.1).collect(),
            dst_strides: dims.iter().map(|d| d.2).collect(),
            src_start: src_start as isize,
            dst_start: dst_start as isize,
            src_len,
            dst_len,
            empty,
        };
        if !empty {
            let range = |start: isize, strides: &[isize]| {
                copy.shape
                    .iter()
                    .zip(strides)
                    .fold((start, start), |(lo, hi), (&n, &s)| {
                        let span = (n as isize - 1) * s;
                        if span < 0 {
                            (lo + span, hi)
                        } else {
                            (lo, hi + span)
                        }
                    })
            };
            let (slo, shi) = range(copy.src_start, &copy.src_strides);
            let (dlo, dhi) = range(copy.dst_start, &copy.dst_strides);
            if slo < 0 || shi >= src_len as isize || dlo < 0 || dhi >= dst_len as isize {
                kbail!("internal: strided copy reaches outside its buffers");
            }
        }
        Ok(copy)
    }

    pub fn run<T: Copy>(&self, src: &[T], dst: &mut [T]) -> Result<(), KernelError> {
        check_len("input", src.len(), self.src_len)?;
        check_len("output", dst.len(), self.dst_len)?;
        if self.empty {
            return Ok(());
        }
        copy_rec(
            &self.shape,
            &self.src_strides,
            &self.dst_strides,
            src,
            self.src_start,
            dst,
            self.dst_start,
        );
        Ok(())
    }
}

fn copy_rec<T: Copy>(
    shape: &[usize],
    ss: &[isize],
    ds: &[isize],
    src: &[T],
    so: isize,
    dst: &mut [T],
    d0: isize,
) {
    match (shape, ss, ds) {
        ([], _, _) => dst[d0 as usize] = src[so as usize],
        ([n], [1], [1]) => {
            let (s, d) = (so as usize, d0 as usize);
            dst[d..d + n].copy_from_slice(&src[s..s + n]);
        }
        // Gathers and scatters with positive strides (transposes): iterators instead of
        // an index computation and a bounds check per element.
        ([n], [s], [1]) if *s > 0 => {
            let (s, d) = (*s as usize, d0 as usize);
            let from = src[so as usize..].iter().step_by(s);
            for (out, &v) in dst[d..d + n].iter_mut().zip(from) {
                *out = v;
            }
        }
        ([n], [1], [d]) if *d > 0 => {
            let (s, d) = (so as usize, *d as usize);
            let to = dst[d0 as usize..].iter_mut().step_by(d);
            for (out, &v) in to.zip(&src[s..s + n]) {
                *out = v;
            }
        }
        ([n], [s], [d]) => {
            for i in 0..*n as isize {
                dst[(d0 + i * d) as usize] = src[(so + i * s) as usize];
            }
        }
        ([n, inner @ ..], [s, ss_in @ ..], [d, ds_in @ ..]) => {
            for i in 0..*n as isize {
                copy_rec(inner, ss_in, ds_in, src, so + i * s, dst, d0 + i * d);
            }
        }
        _ => {}
    }
}

/// Row-major strides as isize.
pub fn strides_isize(shape: &[usize]) -> Vec<isize> {
    crate::kernels::common::strides(shape)
        .into_iter()
        .map(|s| s as isize)
        .collect()
}
