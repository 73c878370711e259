//! FULLY_CONNECTED as plain loops over row-major slices, float and 8-bit. Weights are
//! [units, depth] and each output is a dot product along contiguous memory, so the loops
//! read them as stored; `prepare` has resolved shapes, densified sparse weights and
//! packed the 8-bit ones. The float body is generic over `FUSED`: the portable build
//! multiplies and adds, `kernels::x86::fully_connected` compiles the same bodies with
//! AVX2 (+ FMA) enabled.

use crate::kernels::common::clamp;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
use crate::kernels::reference::quant_binary::QByte;

/// Float FULLY_CONNECTED of `input` ([batches, depth]) by `weights` ([units, depth]) into
/// `out` ([batches, units]), plus the optional bias, clamped to `range`. The caller has
/// checked the lengths and that `depth` is positive; `fused` is true only when the CPU
/// reported AVX2 and FMA.
pub(crate) fn fc_f32(
    shape: (usize, usize),
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
    fused: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if fused {
        // SAFETY: `fused` is only true when the CpuFeatures given to prepare had AVX2 and FMA.
        unsafe {
            crate::kernels::x86::fully_connected::fc_f32_avx2(
                shape, input, weights, bias, out, range,
            )
        };
        return;
    }
    let _ = fused;
    fc_f32_body::<false>(shape, input, weights, bias, out, range);
}

/// Lengths were checked by `run`; `depth` is positive (checked at prepare).
#[inline(always)]
pub(crate) fn fc_f32_body<const FUSED: bool>(
    (depth, units): (usize, usize),
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    if units == 0 {
        return;
    }
    let bias_of = |u: usize| bias.and_then(|b| b.get(u)).copied().unwrap_or(0.0);
    for (x, out_row) in input.chunks_exact(depth).zip(out.chunks_exact_mut(units)) {
        // Four units at a time share each load of the input row.
        let mut u = 0;
        for (w, o) in weights
            .chunks_exact(UNITS * depth)
            .zip(out_row.chunks_exact_mut(UNITS))
        {
            let sums = dot_units::<FUSED>(x, w, depth);
            for (k, (o, s)) in o.iter_mut().zip(sums).enumerate() {
                *o = clamp(s + bias_of(u + k), range);
            }
            u += UNITS;
        }
        for (k, w) in weights[u * depth..].chunks_exact(depth).enumerate() {
            if let Some(o) = out_row.get_mut(u + k) {
                *o = clamp(dot::<FUSED>(x, w) + bias_of(u + k), range);
            }
        }
    }
}

/// Units computed together by `dot_units`.
const UNITS: usize = 4;
/// Partial sums per dot product: independent accumulators let the loop vectorize (float
/// addition is not associative, so LLVM will not split one running sum itself) and hide
/// the multiply-add latency.
const LANES: usize = 16;

/// Dot products of `x` with `UNITS` consecutive weight rows of length `depth`.
#[inline(always)]
fn dot_units<const FUSED: bool>(x: &[f32], w: &[f32], depth: usize) -> [f32; UNITS] {
    let (w0, rest) = w.split_at(depth);
    let (w1, rest) = rest.split_at(depth);
    let (w2, w3) = rest.split_at(depth);
    let (x_chunks, x_tail) = x.as_chunks::<LANES>();
    let rows = [w0, w1, w2, w3];
    let [c0, c1, c2, c3] = rows.map(|r| r.as_chunks::<LANES>().0);
    let mut a0 = [0.0f32; LANES];
    let mut a1 = [0.0f32; LANES];
    let mut a2 = [0.0f32; LANES];
    let mut a3 = [0.0f32; LANES];
    for ((((xc, k0), k1), k2), k3) in x_chunks.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
        for j in 0..LANES {
            a0[j] = madd::<FUSED>(a0[j], xc[j], k0[j]);
            a1[j] = madd::<FUSED>(a1[j], xc[j], k1[j]);
            a2[j] = madd::<FUSED>(a2[j], xc[j], k2[j]);
            a3[j] = madd::<FUSED>(a3[j], xc[j], k3[j]);
        }
    }
    let done = x_chunks.len() * LANES;
    let tail = |row: &[f32]| {
        let mut t = 0.0f32;
        for (&a, &b) in x_tail.iter().zip(&row[done.min(row.len())..]) {
            t = madd::<FUSED>(t, a, b);
        }
        t
    };
    [
        reduce(a0) + tail(w0),
        reduce(a1) + tail(w1),
        reduce(a2) + tail(w2),
        reduce(a3) + tail(w3),
    ]
}

/// One dot product.
#[inline(always)]
fn dot<const FUSED: bool>(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for j in 0..LANES {
            acc[j] = madd::<FUSED>(acc[j], x[j], y[j]);
        }
    }
    let mut tail = 0.0f32;
    for (&x, &y) in a_tail.iter().zip(b_tail) {
        tail = madd::<FUSED>(tail, x, y);
    }
    reduce(acc) + tail
}

/// Pairwise sum of the partial sums.
#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for j in 0..width {
            acc[j] += acc[j + width];
        }
    }
    acc[0]
}

/// `acc + a*b`, fused when the caller was compiled for FMA (a plain `mul_add` would be a
/// slow library call otherwise).
#[inline(always)]
fn madd<const FUSED: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

// ---------------------------------------------------------------------------------------
// 8-bit quantized FULLY_CONNECTED (int8 per tensor or per channel, uint8 per tensor)
//
// acc = Σ (w + w_off)·(x + in_off) + bias, as TFLite's reference kernels accumulate it
// (wrapping int32). It is computed as Σ (w + w_off)·x + in_off·Σ (w + w_off), with the
// second sum taken once at prepare, so the inner loop is a plain dot product; in
// wrapping arithmetic both forms give the same bits.

/// How the int32 accumulator becomes an output value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum FcRequant {
    /// LiteRT's reference kernel since 2025-04 (commit 9213607, "Make the
    /// fully_connected ref kernel do requant in float"), what LiteRT 2.3.0's
    /// BUILTIN_REF runs: `(int32)round(double(acc) * (double(in_s) * double(w_s) /
    /// double(out_s)))`, half away from zero. One real scale per unit.
    Double(Vec<f64>),
    /// The older reference and the optimized kernels: MultiplyByQuantizedMultiplier with
    /// the multiplier of `PopulateConvolutionQuantizationParams` (per channel) or
    /// `GetQuantizedConvolutionMultipler` (per tensor, scale product in float).
    Fixed(Vec<(i32, i32)>),
}

impl FcRequant {
    #[inline(always)]
    fn apply(&self, acc: i32, unit: usize) -> i32 {
        match self {
            FcRequant::Double(scales) => double_to_i32((f64::from(acc) * scales[unit]).round()),
            FcRequant::Fixed(m) => {
                let (m, shift) = m[unit];
                multiply_by_quantized_multiplier(acc, m, shift)
            }
        }
    }
}

/// `static_cast<int32_t>(double)` as x86-64's `cvttsd2si` executes it: the "integer
/// indefinite" `i32::MIN` for values outside the int32 range (undefined in C++).
fn double_to_i32(x: f64) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&x) {
        x as i32
    } else {
        i32::MIN
    }
}

/// The constants of an 8-bit FULLY_CONNECTED, computed once at prepare.
#[derive(Clone, Debug)]
pub(crate) struct FcQ8Params {
    pub(crate) depth: usize,
    pub(crate) units: usize,
    /// [units, depth], each weight plus the weight offset, widened to i16.
    pub(crate) weights: Vec<i16>,
    /// `in_off · Σ_d (w + w_off)` per unit (wrapping).
    pub(crate) input_term: Vec<i32>,
    pub(crate) requant: FcRequant,
    pub(crate) output_zero_point: i32,
    pub(crate) range: (i32, i32),
}

impl FcQ8Params {
    /// Packs [units, depth] weights (each plus `weight_offset`) and takes the input-offset
    /// term of every unit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<T: QByte>(
        values: &[T],
        weight_offset: i32,
        input_offset: i32,
        depth: usize,
        units: usize,
        requant: FcRequant,
        output_zero_point: i32,
        range: (i32, i32),
    ) -> FcQ8Params {
        // |w + offset| <= 255 fits i16.
        let packed: Vec<i16> = values
            .iter()
            .map(|&v| (v.widen() + weight_offset) as i16)
            .collect();
        let input_term = packed
            .chunks_exact(depth)
            .map(|row| {
                row.iter()
                    .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)))
                    .wrapping_mul(input_offset)
            })
            .collect();
        FcQ8Params {
            depth,
            units,
            weights: packed,
            input_term,
            requant,
            output_zero_point,
            range,
        }
    }
}

/// 8-bit FULLY_CONNECTED of `input` ([batches, depth]) into `out` ([batches, units]).
/// The caller has checked the lengths and that `depth` is positive; `avx2` is true only
/// when the CPU reported AVX2.
pub(crate) fn fc_q8<T: QByte>(
    k: &FcQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
        unsafe { crate::kernels::x86::fully_connected::fc_q8_avx2(k, input, bias, out) };
        return;
    }
    let _ = avx2;
    fc_q8_body(k, input, bias, out);
}

/// Lengths were checked by `run`; `depth` is positive (checked at prepare).
#[inline(always)]
pub(crate) fn fc_q8_body<T: QByte>(
    k: &FcQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    if k.units == 0 {
        return;
    }
    for (x, out_row) in input
        .chunks_exact(k.depth)
        .zip(out.chunks_exact_mut(k.units))
    {
        for (u, (w, o)) in k
            .weights
            .chunks_exact(k.depth)
            .zip(out_row.iter_mut())
            .enumerate()
        {
            let bias = bias.map_or(0, |b| b[u]);
            let acc = dot_q8(x, w)
                .wrapping_add(k.input_term[u])
                .wrapping_add(bias);
            let v = k
                .requant
                .apply(acc, u)
                .wrapping_add(k.output_zero_point)
                .clamp(k.range.0, k.range.1);
            *o = T::narrow(v);
        }
    }
}

/// Partial sums of the integer dot product (independent lanes for the vectorizer).
const Q8_LANES: usize = 32;

/// Σ x·w with wrapping int32 sums.
#[inline(always)]
fn dot_q8<T: QByte>(x: &[T], w: &[i16]) -> i32 {
    let (x_chunks, x_tail) = x.as_chunks::<Q8_LANES>();
    let (w_chunks, w_tail) = w.as_chunks::<Q8_LANES>();
    let mut acc = [0i32; Q8_LANES];
    for (xc, wc) in x_chunks.iter().zip(w_chunks) {
        for j in 0..Q8_LANES {
            acc[j] = acc[j].wrapping_add(xc[j].widen() * i32::from(wc[j]));
        }
    }
    let mut sum = acc.iter().fold(0i32, |s, &a| s.wrapping_add(a));
    for (&xv, &wv) in x_tail.iter().zip(w_tail) {
        sum = sum.wrapping_add(xv.widen() * i32::from(wv));
    }
    sum
}
