//! Shape rules shared by several kernels: window padding, fused activation ranges,
//! broadcasting, strides.

use crate::ir::KernelError;
use crate::ir::{Activation, Padding};
use crate::kbail;

/// Output size and leading padding of one spatial dimension of a windowed op, as
/// TFLite computes them (`padding.h`): SAME gives ceil(in/stride); VALID gives
/// floor((in - effective + stride)/stride); the extra padding pixel goes at the end.
pub fn window_dim(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Result<(usize, usize), KernelError> {
    if stride == 0 || dilation == 0 || filter == 0 {
        kbail!("stride, dilation and filter size must be positive (got stride {stride}, dilation {dilation}, filter {filter})");
    }
    let effective = (filter - 1) * dilation + 1;
    let out = match padding {
        Padding::Same => input.div_ceil(stride),
        Padding::Valid => {
            if input + stride < effective + stride {
                0
            } else {
                (input - effective + stride) / stride
            }
        }
    };
    let needed = (out.saturating_sub(1) * stride + effective).saturating_sub(input);
    Ok((out, needed / 2))
}

/// Converts an option value (i32 in the file) to a positive usize.
pub fn positive(value: i32, what: &str) -> Result<usize, KernelError> {
    if value <= 0 {
        kbail!("{what} must be positive, got {value}");
    }
    Ok(value as usize)
}

/// Float clamp bounds of a fused activation, as TFLite's CalculateActivationRange gives
/// them: an open end is the largest finite float, not infinity, so even with no activation
/// a result of ±inf comes out as ±f32::MAX (NaN passes, see [`clamp`]). TANH and SIGN_BIT
/// are not clamps; ops that allow them handle them separately.
pub fn activation_range_f32(act: Activation) -> Result<(f32, f32), KernelError> {
    Ok(match act {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::ReluN1To1 => (-1.0, 1.0),
        Activation::Relu6 => (0.0, 6.0),
        other => kbail!("fused activation {} is not supported here", other.name()),
    })
}

/// TFLite's `CalculateActivationRange` for integer outputs.
pub fn activation_range_int(
    act: Activation,
    min: i64,
    max: i64,
) -> Result<(i64, i64), KernelError> {
    Ok(match act {
        Activation::None => (min, max),
        Activation::Relu => (0, max),
        Activation::ReluN1To1 => (-1, 1),
        Activation::Relu6 => (0, 6),
        other => kbail!("fused activation {} is not supported here", other.name()),
    })
}

/// TFLite's fused-activation clamp `min(max(x, lo), hi)`, written as the comparisons its
/// `std::max`/`std::min` make: a NaN fails both and passes through, as in LiteRT's reference
/// kernels. `f32::max`/`f32::min` would turn it into `lo` instead. Every kernel clamps with this
/// one function (integers too, where it is the plain clamp), so the NaN behaviour cannot drift.
#[inline(always)]
pub fn clamp<T: PartialOrd>(x: T, (lo, hi): (T, T)) -> T {
    if x < lo {
        lo
    } else if hi < x {
        hi
    } else {
        x
    }
}

/// The activation of TFLite's hybrid FULLY_CONNECTED, `ApplyActivationToVector`, which is
/// not [`clamp`]: RELU is `std::max(0.0f, x)` and RELU6 `std::max(0.0f, std::min(x, 6.0f))`,
/// where a NaN loses both comparisons and becomes the lower bound, NONE leaves the values alone
/// and RELU has no upper bound, so an overflow to ±inf stays infinite. `None` for NONE.
pub fn vector_activation_bounds(act: Activation) -> Result<Option<(f32, f32)>, KernelError> {
    Ok(match act {
        Activation::None => None,
        Activation::Relu => Some((0.0, f32::INFINITY)),
        Activation::ReluN1To1 => Some((-1.0, 1.0)),
        Activation::Relu6 => Some((0.0, 6.0)),
        other => kbail!("fused activation {} is not supported here", other.name()),
    })
}

/// Applies [`vector_activation_bounds`] in place as `max(lo, min(x, hi))` with C++'s
/// `std::min(a, b) = b < a ? b : a` and `std::max(a, b) = a < b ? b : a`.
pub fn apply_vector_activation(values: &mut [f32], bounds: Option<(f32, f32)>) {
    let Some((lo, hi)) = bounds else {
        return;
    };
    for v in values {
        let capped = if hi < *v { hi } else { *v };
        *v = if lo < capped { capped } else { lo };
    }
}

/// [`clamp`] over a slice.
#[inline]
pub fn clamp_slice(values: &mut [f32], range: (f32, f32)) {
    for v in values {
        *v = clamp(*v, range);
    }
}

/// Fails unless a run-time slice has the length prepare planned for.
pub fn check_len(what: &str, got: usize, expected: usize) -> Result<(), KernelError> {
    if got != expected {
        kbail!("{what} has {got} elements, expected {expected}");
    }
    Ok(())
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy-style broadcast of two shapes (aligned at the trailing dims).
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, KernelError> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => kbail!("shapes {a:?} and {b:?} cannot be broadcast together"),
        };
    }
    Ok(out)
}

/// Strides for reading `shape` as if broadcast to `out` (0 on broadcast dims).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides(shape);
    let pad = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < pad || shape[i - pad] == 1 {
                0
            } else {
                own[i - pad]
            }
        })
        .collect()
}

/// Normalizes a possibly negative axis against `rank`.
pub fn axis(value: i64, rank: usize, what: &str) -> Result<usize, KernelError> {
    let r = rank as i64;
    if value < -r || value >= r.max(1) {
        kbail!("{what} {value} is out of range for rank {rank}");
    }
    Ok(if value < 0 {
        (value + r) as usize
    } else {
        value as usize
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_and_valid_padding_follow_tflite() {
        // 28 wide, 3x3, stride 1: VALID gives 26, SAME 28 with one pixel each side.
        assert_eq!(window_dim(Padding::Valid, 28, 3, 1, 1).unwrap(), (26, 0));
        assert_eq!(window_dim(Padding::Same, 28, 3, 1, 1).unwrap(), (28, 1));
        // Even total padding split with the extra pixel at the end: in 5, k 2, s 2.
        assert_eq!(window_dim(Padding::Same, 5, 2, 2, 1).unwrap(), (3, 0));
        // Dilation 2 makes a 3-tap filter 5 wide.
        assert_eq!(window_dim(Padding::Valid, 7, 3, 1, 2).unwrap(), (3, 0));
        assert!(window_dim(Padding::Same, 5, 3, 0, 1).is_err());
    }

    #[test]
    fn broadcasting_aligns_trailing_dims() {
        assert_eq!(
            broadcast_shapes(&[2, 1, 3], &[4, 1]).unwrap(),
            vec![2, 4, 3]
        );
        assert!(broadcast_shapes(&[2, 3], &[4]).is_err());
        assert_eq!(broadcast_strides(&[4, 1], &[2, 4, 3]), vec![0, 1, 0]);
    }

    /// Expected values are what TFLite's C++ gives: `ActivationFunctionWithMinMax` with the
    /// bounds of `CalculateActivationRange` (lowest/max float for open ends), and
    /// `ApplyActivationToVector` (`std::max(0.0f, x)`, no clamp for NONE).
    #[test]
    fn the_two_tflite_float_activations_treat_nan_and_inf_as_tflite_does() {
        let none = activation_range_f32(Activation::None).unwrap();
        let relu = activation_range_f32(Activation::Relu).unwrap();
        let relu6 = activation_range_f32(Activation::Relu6).unwrap();
        assert!(clamp(f32::NAN, none).is_nan());
        assert!(clamp(f32::NAN, relu).is_nan());
        assert!(clamp(f32::NAN, relu6).is_nan());
        assert_eq!(clamp(f32::INFINITY, none), f32::MAX);
        assert_eq!(clamp(f32::NEG_INFINITY, none), f32::MIN);
        assert_eq!(clamp(f32::INFINITY, relu), f32::MAX);
        assert_eq!(clamp(-3.0, relu), 0.0);
        assert_eq!(clamp(7.0, relu6), 6.0);

        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 2.5];
        apply_vector_activation(&mut v, vector_activation_bounds(Activation::None).unwrap());
        assert!(v[0].is_nan() && v[1] == f32::INFINITY && v[2] == f32::NEG_INFINITY);
        let mut v = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 2.5];
        apply_vector_activation(&mut v, vector_activation_bounds(Activation::Relu).unwrap());
        // std::max(0.0f, -0.0f) keeps its first argument: +0.0.
        assert_eq!(
            v.map(f32::to_bits),
            [0.0, f32::INFINITY, 0.0, 0.0, 2.5].map(f32::to_bits)
        );
        let mut v = [f32::NAN, 3.0, -3.0];
        apply_vector_activation(
            &mut v,
            vector_activation_bounds(Activation::ReluN1To1).unwrap(),
        );
        assert_eq!(v, [-1.0, 1.0, -1.0]);
    }
}
