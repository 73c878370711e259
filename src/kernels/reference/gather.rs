//! GATHER over flat slices, with the geometry reduced to four counts.

use crate::ir::KernelError;
use crate::kbail;

/// `params` is `[batches, outer, axis, inner]` and the indices `[batches, coords]`; the
/// output is `[batches, outer, coords, inner]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatherGeometry {
    pub batches: usize,
    pub outer: usize,
    pub axis: usize,
    pub inner: usize,
    pub coords: usize,
}

/// Copies the selected slices; `index(k)` is the k-th index. An index outside
/// `[0, axis)` is an error (the indices are data, not something prepare could check).
pub fn gather<T: Copy>(
    g: &GatherGeometry,
    params: &[T],
    index: impl Fn(usize) -> Option<i64>,
    out: &mut [T],
) -> Result<(), KernelError> {
    let inner = g.inner;
    let mut o = 0;
    for b in 0..g.batches {
        for outer in 0..g.outer {
            let base = (b * g.outer + outer) * g.axis;
            for k in 0..g.coords {
                let Some(i) = index(b * g.coords + k) else {
                    kbail!("the indices are shorter than planned");
                };
                if i < 0 || i as u64 >= g.axis as u64 {
                    kbail!(
                        "gather index {i} is out of range for an axis of size {}",
                        g.axis
                    );
                }
                let from = (base + i as usize) * inner;
                let (Some(src), Some(dst)) =
                    (params.get(from..from + inner), out.get_mut(o..o + inner))
                else {
                    kbail!("the params or output are shorter than planned");
                };
                dst.copy_from_slice(src);
                o += inner;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_matrix_and_a_bad_index() {
        // params [3, 2] gathered on axis 0 at [2, 0, 2].
        let g = GatherGeometry {
            batches: 1,
            outer: 1,
            axis: 3,
            inner: 2,
            coords: 3,
        };
        let params = [1, 2, 3, 4, 5, 6];
        let idx = [2i64, 0, 2];
        let mut out = [0; 6];
        gather(&g, &params, |k| idx.get(k).copied(), &mut out).unwrap();
        assert_eq!(out, [5, 6, 1, 2, 5, 6]);
        let bad = [0i64, 3, 0];
        let err = gather(&g, &params, |k| bad.get(k).copied(), &mut out).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
        let neg = [-1i64, 0, 0];
        assert!(gather(&g, &params, |k| neg.get(k).copied(), &mut out).is_err());
    }

    #[test]
    fn columns_with_a_batch_dim() {
        // params [2 batches, 3 columns] on axis 1 with per-batch indices [[1], [2]].
        let g = GatherGeometry {
            batches: 2,
            outer: 1,
            axis: 3,
            inner: 1,
            coords: 1,
        };
        let params = [10, 11, 12, 20, 21, 22];
        let idx = [1i64, 2];
        let mut out = [0; 2];
        gather(&g, &params, |k| idx.get(k).copied(), &mut out).unwrap();
        assert_eq!(out, [11, 22]);
    }
}
