//! The AVX2 + FMA builds of the float convolution loops: the reference bodies compiled
//! with the features enabled, so the compiler vectorizes them and fuses multiply-adds.
//! Callers must have seen both features in a detected `CpuFeatures`.

use crate::kernels::reference::conv::{
    conv_f32_body, depthwise_f32_body, ConvShape, DepthwiseShape,
};

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn conv_f32_avx2(
    s: &ConvShape,
    input: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    conv_f32_body::<true>(s, input, packed, bias, out, range);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn depthwise_f32_avx2(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    depthwise_f32_body::<true>(s, input, filter, bias, out, range);
}
