//! Float32 FULLY_CONNECTED over sparse weights (see `ops::exec::sparse_fc` for the formats, and for
//! why any summation order of a row's stored products is acceptable: the reference sums
//! the dense row, whose zeros add nothing).
//!
//! The portable path walks each row with a few partial sums; it is what the tests hold
//! the vector path to. The AVX2 + FMA path, chosen at prepare:
//! * 1×4 blocks are regrouped at prepare. Four blocks on consecutive columns (what a
//!   model pruned in 1×16 blocks stores) become one 16-wide block: two 8-wide
//!   multiply-adds against contiguous inputs. The other blocks are taken in pairs, the
//!   two 4-input slices joined into one vector. Up to four batch rows share each load of
//!   the weights.
//! * Random sparse weights, one batch row: scalar fused multiply-adds into eight
//!   partial sums, without bounds checks (a vector gather was slower).
//! * Random sparse weights, several batch rows: each group of eight batch rows is
//!   transposed, so that the eight inputs at one column are contiguous and each stored
//!   weight multiplies all of them in one multiply-add.

use crate::kernels::common::clamp;
use crate::kernels::reference::sparse_fc::BlockRows;

pub(crate) enum F32Weights {
    Random(BlockRows<f32, 1>),
    Block4(BlockRows<f32, 4>),
}

/// 1×4 block rows regrouped for the vector path: runs of four blocks on consecutive
/// columns as 16-wide blocks, and the other blocks as they were.
pub(crate) struct Regrouped {
    pub(in crate::kernels) wide: BlockRows<f32, 16>,
    pub(in crate::kernels) narrow: BlockRows<f32, 4>,
}

impl Regrouped {
    pub(crate) fn new(w: &BlockRows<f32, 4>) -> Regrouped {
        let mut wide = BlockRows::empty(w.depth);
        let mut narrow = BlockRows::empty(w.depth);
        for u in 0..w.rows() {
            let (columns, values) = w.row(u);
            let mut e = 0;
            while e < columns.len() {
                let c = columns[e] as usize;
                let run = columns.get(e..e + 4).is_some_and(|next| {
                    next.iter()
                        .enumerate()
                        .all(|(k, &n)| n as usize == c + 4 * k)
                });
                if run {
                    wide.push_block(c, &values[e * 4..(e + 4) * 4]);
                    e += 4;
                } else {
                    narrow.push_block(c, &values[e * 4..(e + 1) * 4]);
                    e += 1;
                }
            }
            wide.end_row();
            narrow.end_row();
        }
        Regrouped { wide, narrow }
    }
}

/// How the AVX2 + FMA path runs, decided at prepare.
enum VectorPlan {
    /// No vector path: the CPU lacks AVX2 or FMA.
    None,
    Random,
    Blocks(Regrouped),
}

pub(crate) struct SparseFcF32 {
    pub(in crate::kernels) batches: usize,
    weights: F32Weights,
    plan: VectorPlan,
    range: (f32, f32),
}

impl SparseFcF32 {
    /// `fma`: the CPU has AVX2 and FMA.
    pub(crate) fn new(
        batches: usize,
        weights: F32Weights,
        range: (f32, f32),
        fma: bool,
    ) -> SparseFcF32 {
        let plan = match &weights {
            _ if !fma => VectorPlan::None,
            F32Weights::Random(_) => VectorPlan::Random,
            F32Weights::Block4(w) => VectorPlan::Blocks(Regrouped::new(w)),
        };
        SparseFcF32 {
            batches,
            weights,
            plan,
            range,
        }
    }

    pub(crate) fn batches(&self) -> usize {
        self.batches
    }

    pub(crate) fn depth(&self) -> usize {
        match &self.weights {
            F32Weights::Random(w) => w.depth,
            F32Weights::Block4(w) => w.depth,
        }
    }

    pub(crate) fn units(&self) -> usize {
        match &self.weights {
            F32Weights::Random(w) => w.rows(),
            F32Weights::Block4(w) => w.rows(),
        }
    }

    #[inline(always)]
    pub(in crate::kernels) fn finish(&self, total: f32, u: usize, bias: Option<&[f32]>) -> f32 {
        clamp(total + bias.map_or(0.0, |b| b[u]), self.range)
    }

    fn row_total(&self, u: usize, x: &[f32]) -> f32 {
        match &self.weights {
            F32Weights::Random(w) => {
                let (columns, values) = w.row(u);
                row_dot_random(columns, values, x)
            }
            F32Weights::Block4(w) => {
                let (columns, values) = w.row(u);
                row_dot_block4(columns, values, x)
            }
        }
    }

    /// The portable path.
    fn run_portable(&self, input: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        if self.batches >= BATCHED_FROM {
            self.run_batched(input, bias, out);
            return;
        }
        for (x, y) in input
            .chunks_exact(self.depth())
            .zip(out.chunks_exact_mut(self.units()))
        {
            for (u, o) in y.iter_mut().enumerate() {
                *o = self.finish(self.row_total(u, x), u, bias);
            }
        }
    }

    /// Walks the weights once per group of [`ROWS`] batch rows: each stored weight is
    /// loaded once and used for all of them.
    fn run_batched(&self, input: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let (depth, units) = (self.depth(), self.units());
        let mut groups = input.chunks_exact(depth * ROWS);
        let mut outs = out.chunks_exact_mut(units * ROWS);
        for (x, y) in (&mut groups).zip(&mut outs) {
            let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &x[r * depth..(r + 1) * depth]);
            for u in 0..units {
                let mut acc = [0.0f32; ROWS];
                match &self.weights {
                    F32Weights::Random(w) => {
                        let (columns, values) = w.row(u);
                        for (&c, &v) in columns.iter().zip(values) {
                            let c = c as usize;
                            for r in 0..ROWS {
                                acc[r] += v * rows[r].get(c).copied().unwrap_or(0.0);
                            }
                        }
                    }
                    F32Weights::Block4(w) => {
                        let (columns, values) = w.row(u);
                        let mut lanes = [[0.0f32; 4]; ROWS];
                        for (&c, v) in columns.iter().zip(values.chunks_exact(4)) {
                            let c = c as usize;
                            for r in 0..ROWS {
                                if let Some(xs) = rows[r].get(c..c + 4) {
                                    for j in 0..4 {
                                        lanes[r][j] += v[j] * xs[j];
                                    }
                                }
                            }
                        }
                        for r in 0..ROWS {
                            acc[r] = (lanes[r][0] + lanes[r][1]) + (lanes[r][2] + lanes[r][3]);
                        }
                    }
                }
                for r in 0..ROWS {
                    y[r * units + u] = self.finish(acc[r], u, bias);
                }
            }
        }
        // The last batches % ROWS rows, one at a time.
        for (x, y) in groups
            .remainder()
            .chunks_exact(depth)
            .zip(outs.into_remainder().chunks_exact_mut(units))
        {
            for (u, o) in y.iter_mut().enumerate() {
                *o = self.finish(self.row_total(u, x), u, bias);
            }
        }
    }
}

/// From this many batch rows on, the portable kernel walks the weights once per group
/// of [`ROWS`] batch rows, so the weight stream (the larger operand) is read a quarter
/// as often.
const BATCHED_FROM: usize = 4;
const ROWS: usize = 4;

/// Dot product of one random-sparse row with `x`; four partial sums for throughput.
#[inline]
fn row_dot_random(columns: &[u32], values: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let mut c4 = columns.chunks_exact(4);
    let mut v4 = values.chunks_exact(4);
    for (c, v) in (&mut c4).zip(&mut v4) {
        for j in 0..4 {
            acc[j] += v[j] * x.get(c[j] as usize).copied().unwrap_or(0.0);
        }
    }
    for (&c, &v) in c4.remainder().iter().zip(v4.remainder()) {
        acc[0] += v * x.get(c as usize).copied().unwrap_or(0.0);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// Dot product of one row of 1×4 blocks with `x`; two sets of four lanes.
#[inline]
fn row_dot_block4(columns: &[u32], values: &[f32], x: &[f32]) -> f32 {
    let mut a = [0.0f32; 4];
    let mut b = [0.0f32; 4];
    let mut pairs_c = columns.chunks_exact(2);
    let mut pairs_v = values.chunks_exact(8);
    for (c, v) in (&mut pairs_c).zip(&mut pairs_v) {
        let (c0, c1) = (c[0] as usize, c[1] as usize);
        if let (Some(x0), Some(x1)) = (x.get(c0..c0 + 4), x.get(c1..c1 + 4)) {
            for j in 0..4 {
                a[j] += v[j] * x0[j];
                b[j] += v[4 + j] * x1[j];
            }
        }
    }
    for (c, v) in pairs_c
        .remainder()
        .iter()
        .zip(pairs_v.remainder().chunks_exact(4))
    {
        let c0 = *c as usize;
        if let Some(x0) = x.get(c0..c0 + 4) {
            for j in 0..4 {
                a[j] += v[j] * x0[j];
            }
        }
    }
    ((a[0] + b[0]) + (a[1] + b[1])) + ((a[2] + b[2]) + (a[3] + b[3]))
}

impl SparseFcF32 {
    fn run_paths(&self, input: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        match (&self.plan, &self.weights) {
            (VectorPlan::Random, F32Weights::Random(w)) => {
                // SAFETY: the plan is only Random when the CPU reported AVX2 and FMA.
                unsafe {
                    crate::kernels::x86::sparse_fc_f32::run_random(self, w, input, bias, out)
                };
                return;
            }
            (VectorPlan::Blocks(g), _) => {
                // SAFETY: the plan is only Blocks when the CPU reported AVX2 and FMA.
                unsafe {
                    crate::kernels::x86::sparse_fc_f32::run_blocks(self, g, input, bias, out)
                };
                return;
            }
            _ => {}
        }
        self.run_portable(input, bias, out);
    }

    /// LiteRT's reference kernels run a sparse float FULLY_CONNECTED over the densified
    /// weights, so a pruned (unstored) zero weight still multiplies its input: 0 · NaN and
    /// 0 · ±inf are NaN. Skipping those products is what makes the sparse kernel fast, so
    /// the rare rows with a non-finite input are fixed afterwards: a unit that has no stored
    /// weight at such a position gets NaN, as the dense sum would.
    fn poison_skipped_products(&self, input: &[f32], out: &mut [f32]) {
        let (depth, units) = (self.depth(), self.units());
        for (x, y) in input.chunks_exact(depth).zip(out.chunks_exact_mut(units)) {
            if x.iter().all(|v| v.is_finite()) {
                continue;
            }
            let bad: Vec<usize> = (0..depth).filter(|&d| !x[d].is_finite()).collect();
            for (u, o) in y.iter_mut().enumerate() {
                if bad.iter().any(|&d| !self.stores(u, d)) {
                    *o = f32::NAN;
                }
            }
        }
    }

    /// Whether unit `u`'s weight at input position `d` is stored (possibly as an explicit
    /// zero inside a block, which the kernels do multiply).
    fn stores(&self, u: usize, d: usize) -> bool {
        match &self.weights {
            F32Weights::Random(w) => w.row(u).0.iter().any(|&c| c as usize == d),
            F32Weights::Block4(w) => w
                .row(u)
                .0
                .iter()
                .any(|&c| (c as usize..c as usize + 4).contains(&d)),
        }
    }
}

impl SparseFcF32 {
    /// `input` ([batches, depth]) by the weights into `out` ([batches, units]), plus the
    /// optional bias, clamped. The caller has checked the lengths.
    pub(crate) fn run(&self, input: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        // Depth is positive (`fc_geometry`); with no units there is nothing to compute,
        // and the row loops need both positive.
        if self.units() == 0 {
            return;
        }
        self.run_paths(input, bias, out);
        self.poison_skipped_products(input, out);
    }
}
