//! CAST between element types as C++'s `static_cast` converts them: integers wrap,
//! floats truncate toward zero (saturating here where C++ is undefined), and bool is
//! `x != 0` one way and 0/1 the other.

use half::f16;

/// Conversion of one element from `S`.
pub trait CastFrom<S>: Sized {
    fn cast_from(value: S) -> Self;
}

macro_rules! numeric_casts {
    ($($s:ty),*) => {
        $( numeric_casts!(@from $s; f32, i8, u8, i16, i32, i64); )*
    };
    (@from $s:ty; $($d:ty),*) => {
        $(
            impl CastFrom<$s> for $d {
                #[inline]
                fn cast_from(value: $s) -> $d {
                    value as $d
                }
            }
        )*
        impl CastFrom<$s> for bool {
            #[inline]
            fn cast_from(value: $s) -> bool {
                // NaN != 0 holds, as in C++.
                value != (0 as $s)
            }
        }
        impl CastFrom<bool> for $s {
            #[inline]
            fn cast_from(value: bool) -> $s {
                u8::from(value) as $s
            }
        }
        impl CastFrom<$s> for f16 {
            #[inline]
            fn cast_from(value: $s) -> f16 {
                f16::from_f32(value as f32)
            }
        }
        impl CastFrom<f16> for $s {
            #[inline]
            fn cast_from(value: f16) -> $s {
                value.to_f32() as $s
            }
        }
    };
}

numeric_casts!(f32, i8, u8, i16, i32, i64);

impl CastFrom<bool> for bool {
    fn cast_from(value: bool) -> bool {
        value
    }
}

impl CastFrom<f16> for f16 {
    fn cast_from(value: f16) -> f16 {
        value
    }
}

impl CastFrom<f16> for bool {
    fn cast_from(value: f16) -> bool {
        value.to_f32() != 0.0
    }
}

impl CastFrom<bool> for f16 {
    fn cast_from(value: bool) -> f16 {
        if value {
            f16::ONE
        } else {
            f16::ZERO
        }
    }
}

/// Converts `src` element by element into `dst` (equal lengths; extra elements of the
/// longer one are left alone).
pub fn cast_slice<S: Copy, D: CastFrom<S>>(src: &[S], dst: &mut [D]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = D::cast_from(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_cast_semantics() {
        let mut ints = [0i32; 5];
        cast_slice(&[2.9f32, -2.9, 0.5, -0.0, 1e3], &mut ints);
        assert_eq!(ints, [2, -2, 0, 0, 1000]);
        let mut bytes = [0i8; 3];
        cast_slice(&[200i32, -129, 127], &mut bytes);
        // 200 wraps to -56, -129 to 127.
        assert_eq!(bytes, [-56, 127, 127]);
        let mut flags = [false; 3];
        cast_slice(&[0.0f32, -0.5, f32::NAN], &mut flags);
        assert_eq!(flags, [false, true, true]);
        let mut back = [0.0f32; 2];
        cast_slice(&[true, false], &mut back);
        assert_eq!(back, [1.0, 0.0]);
        let mut wide = [0.0f32; 1];
        // 2^24 + 1 has no float32; the nearest even is 2^24.
        cast_slice(&[16_777_217i64], &mut wide);
        assert_eq!(wide, [16_777_216.0]);
    }
}
