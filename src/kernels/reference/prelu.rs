//! PRELU over flat slices: the output has the input's shape and alpha is read through
//! broadcast strides (0 along the axes it shares).

/// Calls `f(i, a)` for every element `i` (row-major over `shape`) with `a` the offset
/// given by `strides` (one per dim of `shape`).
pub fn for_each_broadcast(shape: &[usize], strides: &[usize], mut f: impl FnMut(usize, usize)) {
    fn walk(
        shape: &[usize],
        strides: &[usize],
        base: usize,
        next: &mut usize,
        f: &mut impl FnMut(usize, usize),
    ) {
        match (shape, strides) {
            ([], _) => {
                f(*next, base);
                *next += 1;
            }
            ([n], [s]) => {
                for k in 0..*n {
                    f(*next, base + k * s);
                    *next += 1;
                }
            }
            ([n, inner @ ..], [s, inner_strides @ ..]) => {
                for k in 0..*n {
                    walk(inner, inner_strides, base + k * s, next, f);
                }
            }
            _ => {}
        }
    }
    let mut next = 0;
    walk(shape, strides, 0, &mut next, &mut f);
}

/// Float PRELU as the reference `x >= 0 ? x : x * alpha` (a NaN input takes the alpha
/// branch and stays NaN).
pub fn prelu_f32(x: &[f32], alpha: &[f32], shape: &[usize], strides: &[usize], out: &mut [f32]) {
    // One alpha per channel (the last axis), shared by every pixel: the common layout
    // walked as whole pixel rows, which vectorises, where the general walk below makes
    // a call and three bounds checks per element. Same formula per element.
    if let (Some((&1, outer)), Some(&c)) = (strides.split_last(), shape.last()) {
        if c > 0
            && outer.iter().all(|&s| s == 0)
            && x.len() == out.len()
            && x.len() == shape.iter().product::<usize>()
        {
            if let Some(alpha) = alpha.get(..c) {
                for (o, x) in out.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
                    for ((o, &v), &s) in o.iter_mut().zip(x).zip(alpha) {
                        // Both branches computed, then selected by a bit mask: the
                        // compiler turns an `if` here back into a branch on the sign
                        // of activations, mispredicted half the time, and does not
                        // vectorise it.
                        let keep = u32::from(v >= 0.0).wrapping_neg();
                        let scaled = (v * s).to_bits();
                        *o = f32::from_bits((v.to_bits() & keep) | (scaled & !keep));
                    }
                }
                return;
            }
        }
    }
    for_each_broadcast(shape, strides, |i, a| {
        if let (Some(&v), Some(&s), Some(o)) = (x.get(i), alpha.get(a), out.get_mut(i)) {
            *o = if v >= 0.0 { v } else { v * s };
        }
    });
}

/// The constants of 8-bit PRELU: the zero points, one quantized multiplier for the
/// identity branch (`in_s / out_s`), one for the alpha branch (`in_s * alpha_s / out_s`),
/// and the output type's range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreluQuant {
    pub input_zero_point: i32,
    pub alpha_zero_point: i32,
    pub output_zero_point: i32,
    pub identity: (i32, i32),
    pub alpha: (i32, i32),
    pub range: (i32, i32),
}

impl PreluQuant {
    /// One output value from one input and one alpha value (both as stored).
    #[inline]
    pub fn apply(&self, x: i32, alpha: i32) -> i32 {
        use crate::kernels::fixed_point::multiply_by_quantized_multiplier as mbqm;
        let centered = x - self.input_zero_point;
        let scaled = if centered >= 0 {
            mbqm(centered, self.identity.0, self.identity.1)
        } else {
            // |centered| <= 255 and |alpha - zp| <= 255: the product fits in i32.
            let slope = alpha - self.alpha_zero_point;
            mbqm(centered * slope, self.alpha.0, self.alpha.1)
        };
        scaled
            .wrapping_add(self.output_zero_point)
            .clamp(self.range.0, self.range.1)
    }
}

/// 8-bit PRELU; `narrow` converts a value already inside the output range to `T`.
pub fn prelu_q8<T: Copy + Into<i32>>(
    q: &PreluQuant,
    x: &[T],
    alpha: &[T],
    shape: &[usize],
    strides: &[usize],
    out: &mut [T],
    narrow: fn(i32) -> T,
) {
    for_each_broadcast(shape, strides, |i, a| {
        if let (Some(&v), Some(&s), Some(o)) = (x.get(i), alpha.get(a), out.get_mut(i)) {
            *o = narrow(q.apply(v.into(), s.into()));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_broadcast_strides() {
        let mut seen = Vec::new();
        // shape [2, 3] with the second dim broadcast from a [2, 1] tensor.
        for_each_broadcast(&[2, 3], &[1, 0], |i, a| seen.push((i, a)));
        assert_eq!(seen, vec![(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 1)]);
        let mut scalar = Vec::new();
        for_each_broadcast(&[], &[], |i, a| scalar.push((i, a)));
        assert_eq!(scalar, vec![(0, 0)]);
    }

    #[test]
    fn float_prelu_per_channel() {
        // x of shape [2, 2] with one alpha per column: [0.5, -2].
        let x = [1.0, -1.0, -4.0, 0.0];
        let mut out = [0.0; 4];
        prelu_f32(&x, &[0.5, -2.0], &[2, 2], &[0, 1], &mut out);
        assert_eq!(out, [1.0, 2.0, -2.0, 0.0]);
    }

    proptest::proptest! {
        /// The per-channel row loop gives, bit for bit, what the element-by-element walk
        /// of the broadcast gives (NaN, signed zeros and infinities included).
        #[test]
        fn per_channel_rows_match_the_broadcast_walk(
            pixels in 1usize..30,
            c in 1usize..20,
            picks in proptest::collection::vec(0usize..8, 600),
        ) {
            let palette = [0.0f32, -0.0, f32::NAN, -1.5, 2.25, f32::NEG_INFINITY, -3e-39, 7.0];
            let x: Vec<f32> = (0..pixels * c).map(|i| palette[picks[i % 600]]).collect();
            let alpha: Vec<f32> = (0..c).map(|j| palette[picks[(j * 7 + 3) % 600]]).collect();
            let mut got = vec![1.0f32; x.len()];
            prelu_f32(&x, &alpha, &[1, pixels, c], &[0, 0, 1], &mut got);
            let mut want = vec![1.0f32; x.len()];
            for_each_broadcast(&[1, pixels, c], &[0, 0, 1], |i, a| {
                want[i] = if x[i] >= 0.0 { x[i] } else { x[i] * alpha[a] };
            });
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&got), bits(&want));
        }
    }

    #[test]
    fn quantized_branches_by_hand() {
        // (m, shift) = (2^30, 0) multiplies by 0.5, (2^30, -1) by 0.25.
        let q = PreluQuant {
            input_zero_point: 10,
            alpha_zero_point: -3,
            output_zero_point: 5,
            identity: (1 << 30, 0),
            alpha: (1 << 30, -1),
            range: (-128, 127),
        };
        // x - zp = 6 >= 0: 6 * 0.5 + 5 = 8.
        assert_eq!(q.apply(16, 0), 8);
        // x - zp = -8, alpha - zp = 3: -24 * 0.25 = -6, + 5 = -1.
        assert_eq!(q.apply(2, 0), -1);
        // -138 * 100 * 0.25 = -3450, clamped to -128.
        assert_eq!(q.apply(-128, 97), -128);
        // A tie: -2 * 3 * 0.25 = -1.5 rounds away from zero to -2, + 5 = 3.
        assert_eq!(q.apply(8, 0), 3);
    }
}
