//! Which SIMD variants this CPU can run.

#[cfg(test)]
thread_local! {
    /// Lets tests on an AVX2 machine exercise the portable loops too.
    pub(crate) static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Lets tests on an AVX-512 machine exercise the AVX2 variants too.
    pub(crate) static AVX2_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Lets tests on a VNNI machine exercise the plain AVX-512 variant too.
    pub(crate) static NO_VNNI: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True when the CPU can run the AVX2 + FMA variants of the inner loops.
pub(crate) fn fma_available() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX-512 F, BW and VL (the 16-lane integer conv path).
pub(crate) fn avx512_available() -> bool {
    #[cfg(test)]
    if AVX2_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX-512 VNNI.
pub(crate) fn vnni_available() -> bool {
    #[cfg(test)]
    if NO_VNNI.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX2, for the integer loops (which need no FMA).
pub(crate) fn avx2_available() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
