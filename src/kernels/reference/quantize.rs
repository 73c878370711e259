//! DEQUANTIZE, QUANTIZE and integer requantization over plain slices, as TFLite's
//! reference kernels (`reference/dequantize.h`, `reference/integer_ops/dequantize.h`,
//! `reference/quantize.h`, `reference/requantize.h`). The operator's doc
//! (`ops::exec::quantize`) gives the arithmetic; the parameters are read there.

use crate::ir::KernelError;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
use half::f16;

/// Affine parameters laid out for a flat walk: element `i` belongs to channel
/// `(i / inner) % scales.len()`; per-tensor parameters are one channel spanning all.
#[derive(Clone, Debug)]
pub struct Affine {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    /// Elements sharing one channel before the channel index advances (≥ 1).
    pub inner: usize,
    pub per_tensor: bool,
}

impl Affine {
    /// Calls `f(scale, zero_point, slice)` for every run of elements sharing a channel.
    fn for_each_run<'a, T>(&self, data: &'a [T], mut f: impl FnMut(f32, i32, &'a [T])) {
        let channels = self.scales.len().max(1);
        for (run, chunk) in data.chunks(self.inner).enumerate() {
            let c = run % channels;
            let (Some(&s), Some(&z)) = (self.scales.get(c), self.zero_points.get(c)) else {
                return;
            };
            f(s, z, chunk);
        }
    }
}

fn same_len(what: &str, a: usize, b: usize) -> Result<(), KernelError> {
    if a != b {
        crate::kbail!("{what}: input has {a} elements, output {b}");
    }
    Ok(())
}

/// DEQUANTIZE of 8- or 16-bit integers: per tensor `float(double(scale) * double(q -
/// zp))`, per channel `scale[c] * float(q - zp[c])`, each mirroring its TFLite kernel.
pub fn dequantize<T: Copy + Into<i32>>(
    a: &Affine,
    input: &[T],
    out: &mut [f32],
) -> Result<(), KernelError> {
    same_len("DEQUANTIZE", input.len(), out.len())?;
    let mut pos = 0usize;
    a.for_each_run(input, |scale, zp, run| {
        let Some(dst) = out.get_mut(pos..pos + run.len()) else {
            return;
        };
        if a.per_tensor {
            let scale = scale as f64;
            for (d, &q) in dst.iter_mut().zip(run) {
                let q: i32 = q.into();
                *d = (scale * (i64::from(q) - i64::from(zp)) as f64) as f32;
            }
        } else {
            for (d, &q) in dst.iter_mut().zip(run) {
                let q: i32 = q.into();
                *d = scale * q.wrapping_sub(zp) as f32;
            }
        }
        pos += run.len();
    });
    Ok(())
}

/// DEQUANTIZE of float16: an exact widening.
pub fn dequantize_f16(input: &[f16], out: &mut [f32]) -> Result<(), KernelError> {
    same_len("DEQUANTIZE", input.len(), out.len())?;
    for (d, &h) in out.iter_mut().zip(input) {
        *d = f16::to_f32(h);
    }
    Ok(())
}

/// Integer output types, with their range as f64 for the clamp.
pub trait QuantTarget: Copy {
    const MIN: f64;
    const MAX: f64;
    /// `x` is already clamped to `MIN..=MAX` and integral (or NaN → 0).
    fn from_f64(x: f64) -> Self;
}

macro_rules! quant_target {
    ($($t:ty),*) => {$(
        impl QuantTarget for $t {
            const MIN: f64 = <$t>::MIN as f64;
            const MAX: f64 = <$t>::MAX as f64;
            fn from_f64(x: f64) -> Self {
                x as $t
            }
        }
    )*};
}
quant_target!(i8, u8, i16);

/// QUANTIZE from float32: `clamp(round(x / scale) + zp)`.
pub fn quantize<T: QuantTarget>(
    a: &Affine,
    input: &[f32],
    out: &mut [T],
) -> Result<(), KernelError> {
    same_len("QUANTIZE", input.len(), out.len())?;
    let mut pos = 0usize;
    a.for_each_run(input, |scale, zp, run| {
        let Some(dst) = out.get_mut(pos..pos + run.len()) else {
            return;
        };
        let zp = f64::from(zp);
        for (d, &x) in dst.iter_mut().zip(run) {
            // f32 division and f32 round (half away from zero), as TFLite does.
            let q = f64::from((x / scale).round()) + zp;
            *d = T::from_f64(q.clamp(T::MIN, T::MAX));
        }
        pos += run.len();
    });
    Ok(())
}

/// QUANTIZE between integer types.
pub struct Requantize {
    pub in_zp: i32,
    pub out_zp: i32,
    pub multiplier: i32,
    pub shift: i32,
    /// Output type range.
    pub out_min: i32,
    pub out_max: i32,
}

/// Integer element types a requantization writes; the value is already clamped.
pub trait IntTarget: Copy {
    fn from_clamped(v: i32) -> Self;
}

macro_rules! int_target {
    ($($t:ty),*) => {$(
        impl IntTarget for $t {
            fn from_clamped(v: i32) -> Self {
                // In range by the caller's clamp.
                v as $t
            }
        }
    )*};
}
int_target!(i8, u8, i16, i32);

impl Requantize {
    /// `clamp(MBQM(q - in_zp, m, s) + out_zp)` element by element.
    pub fn run<I: Copy + Into<i64>, O: IntTarget>(
        &self,
        input: &[I],
        out: &mut [O],
    ) -> Result<(), KernelError> {
        same_len("QUANTIZE", input.len(), out.len())?;
        for (d, &q) in out.iter_mut().zip(input) {
            // As the C++: `int32_t(q - zp)`, which only wraps for int32 inputs.
            let centered = (q.into() - i64::from(self.in_zp)) as i32;
            let scaled = multiply_by_quantized_multiplier(centered, self.multiplier, self.shift)
                .wrapping_add(self.out_zp);
            *d = O::from_clamped(scaled.clamp(self.out_min, self.out_max));
        }
        Ok(())
    }
}

/// int8 → uint8 at equal scales with zero points 128 apart: the reference flips the top
/// bit, which gives the requantization's bytes more cheaply.
pub fn flip_i8_to_u8(input: &[i8], out: &mut [u8]) -> Result<(), KernelError> {
    same_len("QUANTIZE", input.len(), out.len())?;
    for (d, &q) in out.iter_mut().zip(input) {
        *d = (q as u8) ^ 0x80;
    }
    Ok(())
}

/// uint8 → int8, the mirror of [`flip_i8_to_u8`].
pub fn flip_u8_to_i8(input: &[u8], out: &mut [i8]) -> Result<(), KernelError> {
    same_len("QUANTIZE", input.len(), out.len())?;
    for (d, &q) in out.iter_mut().zip(input) {
        *d = (q ^ 0x80) as i8;
    }
    Ok(())
}
