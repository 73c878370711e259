//! FULLY_CONNECTED with AVX2: the reference bodies of `kernels::reference::fully_connected`
//! compiled with the features enabled, float with fused multiply-adds.

use crate::kernels::reference::fully_connected::{fc_f32_body, fc_q8_body, FcQ8Params};
use crate::kernels::reference::quant_binary::QByte;

#[target_feature(enable = "avx2,fma")]
pub(crate) fn fc_f32_avx2(
    shape: (usize, usize),
    input: &[f32],
    weights: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    fc_f32_body::<true>(shape, input, weights, bias, out, range);
}

#[target_feature(enable = "avx2")]
pub(crate) fn fc_q8_avx2<T: QByte>(
    k: &FcQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    fc_q8_body(k, input, bias, out);
}
