//! AVX2 builds of the float element-wise loops (activations, ADD/MUL/SUB/DIV, MEAN).
//!
//! These loops are plain slice loops that the compiler vectorises by itself; built for the
//! x86-64 baseline they get 4-lane SSE2, here 8-lane AVX2. [`with_avx2`] runs a closure
//! inside a function compiled with AVX2 + FMA, so the loops it inlines (the caller keeps
//! them `#[inline(always)]`) are vectorised for it. No arithmetic changes: Rust does not
//! contract `a * b + c` into a fused multiply-add, so results stay bit-identical.

/// Runs `f` compiled with AVX2 + FMA enabled.
///
/// # Safety
/// The CPU has AVX2 and FMA (a detected `CpuFeatures` said so).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
