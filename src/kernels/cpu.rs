//! Which SIMD variants this CPU can run: one [`CpuFeatures`] value, detected once, that the
//! planner puts on every `PrepareCtx` so each `prepare` picks its variant from it.

use std::sync::OnceLock;

/// The instruction-set extensions the fast paths need. The fields are private and the only
/// constructors are [`CpuFeatures::detect`] and the restrictions of a detected value, so a
/// value never claims a feature the CPU lacks: the `unsafe` fast paths rely on that.
/// Tests pick a slower variant by passing a restricted value (e.g. [`CpuFeatures::portable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFeatures {
    avx2: bool,
    fma: bool,
    /// AVX-512 F, BW and VL together (the 16-lane integer conv path).
    avx512: bool,
    /// AVX-512 VNNI.
    vnni: bool,
}

impl CpuFeatures {
    /// What this CPU has, asked once per process (the answer cannot change while it runs).
    pub fn detect() -> CpuFeatures {
        static DETECTED: OnceLock<CpuFeatures> = OnceLock::new();
        *DETECTED.get_or_init(Self::ask_cpu)
    }

    #[cfg(target_arch = "x86_64")]
    fn ask_cpu() -> CpuFeatures {
        use std::arch::is_x86_feature_detected as has;
        CpuFeatures {
            avx2: has!("avx2"),
            fma: has!("fma"),
            avx512: has!("avx512f") && has!("avx512bw") && has!("avx512vl"),
            vnni: has!("avx512vnni"),
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn ask_cpu() -> CpuFeatures {
        CpuFeatures::portable()
    }

    /// No SIMD at all: every kernel runs its portable loops.
    pub const fn portable() -> CpuFeatures {
        CpuFeatures {
            avx2: false,
            fma: false,
            avx512: false,
            vnni: false,
        }
    }

    /// This value without AVX-512 (and so without VNNI): the AVX2 variants.
    pub const fn without_avx512(self) -> CpuFeatures {
        CpuFeatures {
            avx512: false,
            vnni: false,
            ..self
        }
    }

    /// This value without VNNI: the plain AVX-512 variant.
    pub const fn without_vnni(self) -> CpuFeatures {
        CpuFeatures {
            vnni: false,
            ..self
        }
    }

    /// AVX2 and FMA: the float inner loops.
    pub const fn fma(self) -> bool {
        self.avx2 && self.fma
    }

    /// AVX2, for the integer loops (which need no FMA).
    pub const fn avx2(self) -> bool {
        self.avx2
    }

    /// AVX-512 F, BW and VL.
    pub const fn avx512(self) -> bool {
        self.avx512
    }

    /// AVX-512 VNNI.
    pub const fn vnni(self) -> bool {
        self.vnni
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restrictions_only_take_features_away() {
        let cpu = CpuFeatures::detect();
        assert_eq!(cpu, CpuFeatures::detect());
        let narrow = cpu.without_avx512();
        assert!(!narrow.avx512() && !narrow.vnni());
        assert_eq!((narrow.avx2(), narrow.fma()), (cpu.avx2(), cpu.fma()));
        let no_vnni = cpu.without_vnni();
        assert!(!no_vnni.vnni());
        assert_eq!(no_vnni.avx512(), cpu.avx512());
        let p = CpuFeatures::portable();
        assert!(!(p.avx2() || p.fma() || p.avx512() || p.vnni()));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn detection_agrees_with_the_standard_library() {
        let cpu = CpuFeatures::detect();
        assert_eq!(cpu.avx2(), std::arch::is_x86_feature_detected!("avx2"));
        assert_eq!(
            cpu.fma(),
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        );
    }
}
