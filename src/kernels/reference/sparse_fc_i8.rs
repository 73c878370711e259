//! Int8 FULLY_CONNECTED over 1×16 blocks of weights (see `ops::exec::sparse_fc` for the encoding
//! and the arithmetic LiteRT uses).
//!
//! acc = Σ w·x + in_off·Σ w + bias per unit, in wrapping int32: the middle term is taken
//! once per row at prepare, so the inner loop is a plain integer dot product. Integer
//! sums do not depend on the order of their terms, so the vector path (which adds
//! pairs of products in a different order) gives the bits of the portable one.

use crate::kernels::reference::sparse_fc::{BlockRows, Int8Requant};

pub(crate) struct SparseFcI8 {
    batches: usize,
    pub(in crate::kernels) weights: BlockRows<i8, 16>,
    /// Σ of each row's stored weights, to fold the input offset out of the inner loop.
    row_sums: Vec<i32>,
    requant: Int8Requant,
    /// The CPU has AVX2 (seen at prepare).
    avx2: bool,
}

impl SparseFcI8 {
    pub(crate) fn new(
        batches: usize,
        weights: BlockRows<i8, 16>,
        requant: Int8Requant,
        avx2: bool,
    ) -> SparseFcI8 {
        let row_sums = (0..weights.rows())
            .map(|r| {
                weights
                    .row(r)
                    .1
                    .iter()
                    .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)))
            })
            .collect();
        SparseFcI8 {
            batches,
            weights,
            row_sums,
            requant,
            avx2,
        }
    }

    pub(crate) fn batches(&self) -> usize {
        self.batches
    }

    pub(crate) fn depth(&self) -> usize {
        self.weights.depth
    }

    pub(crate) fn units(&self) -> usize {
        self.weights.rows()
    }

    /// The output of unit `u` from its Σ w·x: Σ w·(x + offset) = Σ w·x + offset·Σ w,
    /// exactly, in wrapping int32.
    #[inline(always)]
    pub(in crate::kernels) fn finish(&self, dot: i32, u: usize, bias: Option<&[i32]>) -> i8 {
        let acc = dot
            .wrapping_add(self.requant.input_offset.wrapping_mul(self.row_sums[u]))
            .wrapping_add(bias.map_or(0, |b| b[u]));
        self.requant.output(acc, u)
    }

    /// One batch row at a time; what the vector path is tested against.
    fn run_portable(&self, input: &[i8], bias: Option<&[i32]>, out: &mut [i8]) {
        for (x, y) in input
            .chunks_exact(self.depth())
            .zip(out.chunks_exact_mut(self.units()))
        {
            for (u, o) in y.iter_mut().enumerate() {
                let (columns, values) = self.weights.row(u);
                *o = self.finish(row_dot_block16(columns, values, x), u, bias);
            }
        }
    }
}

/// Σ w·x over one row's 1×16 blocks, in wrapping int32.
#[inline]
fn row_dot_block16(columns: &[u32], values: &[i8], x: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    for (&c, w) in columns.iter().zip(values.chunks_exact(16)) {
        let c = c as usize;
        if let Some(xs) = x.get(c..c + 16) {
            for j in 0..16 {
                acc[j] = acc[j].wrapping_add(i32::from(i16::from(w[j]) * i16::from(xs[j])));
            }
        }
    }
    acc.iter().fold(0i32, |s, &a| s.wrapping_add(a))
}

impl SparseFcI8 {
    /// `input` ([batches, depth]) by the weights into `out` ([batches, units]). The caller
    /// has checked the lengths.
    pub(crate) fn run(&self, input: &[i8], bias: Option<&[i32]>, out: &mut [i8]) {
        // Depth is positive (`fc_geometry`); with no units there is nothing to compute,
        // and the row loops below need both positive.
        if self.units() == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { crate::kernels::x86::sparse_fc_i8::run(self, input, bias, out) };
            return;
        }
        self.run_portable(input, bias, out);
    }
}
