//! ARG_MAX / ARG_MIN along one axis of a row-major tensor seen as
//! `[outer, axis, inner]`, as LiteRT's reference: the running best starts at index 0
//! and moves only when a candidate compares strictly better, so ties keep the first
//! index. For floats a NaN never wins and any number beats a NaN best.

use crate::ir::KernelError;
use crate::kbail;

/// "Strictly better than the current best" for ARG_MAX (`max`) or ARG_MIN.
pub trait ArgCompare: Copy {
    fn better(candidate: Self, current: Self, max: bool) -> bool;
}

macro_rules! ordered {
    ($($t:ty),*) => {$(
        impl ArgCompare for $t {
            #[inline(always)]
            fn better(candidate: Self, current: Self, max: bool) -> bool {
                if max { candidate > current } else { candidate < current }
            }
        }
    )*};
}
ordered!(i8, u8, i16, i32, i64, bool);

impl ArgCompare for f32 {
    #[inline(always)]
    fn better(candidate: Self, current: Self, max: bool) -> bool {
        !candidate.is_nan()
            && (current.is_nan()
                || if max {
                    candidate > current
                } else {
                    candidate < current
                })
    }
}

/// Writes the winning index of every `(outer, inner)` position into `out`, converted by
/// `index` (int32 or int64). `axis` must be at least 1.
pub fn arg_min_max<T: ArgCompare, I>(
    input: &[T],
    (outer, axis, inner): (usize, usize, usize),
    max: bool,
    out: &mut [I],
    index: impl Fn(usize) -> I,
) -> Result<(), KernelError> {
    if axis == 0 || input.len() != outer * axis * inner || out.len() != outer * inner {
        kbail!("ARG_MIN/ARG_MAX buffers do not match the planned shapes");
    }
    for o in 0..outer {
        let block = &input[o * axis * inner..(o + 1) * axis * inner];
        for i in 0..inner {
            let mut best = block[i];
            let mut best_at = 0;
            for k in 1..axis {
                let v = block[k * inner + i];
                if T::better(v, best, max) {
                    best = v;
                    best_at = k;
                }
            }
            out[o * inner + i] = index(best_at);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_index_wins_ties_along_a_middle_axis() {
        // [1, 3, 2]: columns (3 values each) 0: 5, 7, 7 → max at 1 (the first 7);
        // 1: 2, 2, 1 → max 0, min 2.
        let x = [5, 2, 7, 2, 7, 1];
        let mut out = [0i32; 2];
        arg_min_max(&x, (1, 3, 2), true, &mut out, |i| i as i32).unwrap();
        assert_eq!(out, [1, 0]);
        arg_min_max(&x, (1, 3, 2), false, &mut out, |i| i as i32).unwrap();
        assert_eq!(out, [0, 2]);
    }

    #[test]
    fn nan_never_wins_but_is_replaced() {
        let x = [f32::NAN, 1.0, f32::NAN, 3.0, -1.0];
        let mut out = [0i64; 1];
        arg_min_max(&x, (1, 5, 1), true, &mut out, |i| i as i64).unwrap();
        assert_eq!(out, [3]);
        arg_min_max(&x, (1, 5, 1), false, &mut out, |i| i as i64).unwrap();
        assert_eq!(out, [4]);
        let all_nan = [f32::NAN; 3];
        arg_min_max(&all_nan, (1, 3, 1), true, &mut out, |i| i as i64).unwrap();
        assert_eq!(out, [0]);
    }

    #[test]
    fn an_empty_axis_is_refused() {
        let mut out = [0i32; 0];
        assert!(arg_min_max::<i8, i32>(&[], (1, 0, 1), true, &mut out, |i| i as i32).is_err());
    }
}
