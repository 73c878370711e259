//! x86-64 fast paths (AVX2, FMA, AVX-512), chosen at prepare from `CpuFeatures`.

#[cfg(target_arch = "x86_64")]
pub mod conv;
#[cfg(target_arch = "x86_64")]
pub mod conv_q8;
#[cfg(target_arch = "x86_64")]
pub mod depthwise;
#[cfg(target_arch = "x86_64")]
pub mod depthwise_q8;
#[cfg(target_arch = "x86_64")]
pub mod elementwise;
#[cfg(target_arch = "x86_64")]
pub mod fully_connected;
#[cfg(target_arch = "x86_64")]
pub mod lut;
#[cfg(target_arch = "x86_64")]
pub mod pool;
#[cfg(target_arch = "x86_64")]
pub mod quant_binary;
#[cfg(target_arch = "x86_64")]
pub mod sparse_fc_f32;
#[cfg(target_arch = "x86_64")]
pub mod sparse_fc_i8;
