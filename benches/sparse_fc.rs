//! `cargo bench --bench sparse_fc`: the sparse FULLY_CONNECTED kernels against the dense
//! kernel on the same weights with 80% of them zero, for the study's 10×2028 Dense and
//! two larger layers. Each pair is timed in alternating rounds (the machine is shared,
//! and its speed drifts); the ratio is the median of the per-round ratios.
//!
//! Formats: float random CSR (elements pruned), float 1×4 blocks (1×4 blocks pruned),
//! float 1×4 blocks of a matrix pruned in 1×16 blocks (what `prune --block 1x16` then
//! `convert` writes for a float file), int8 1×16 blocks.

use std::sync::Arc;
use std::time::Duration;

use ferrolite::interp::{TensorBuf, TensorInfo, ViewMut};
use ferrolite::ir::{self, DType, FullyConnectedOptions, Op, Operator, Quantization};
use ferrolite::ops::exec::{self, Kernel, PrepareCtx};
use ferrolite::verify::timing::paired_median_micros;

/// [units, depth] and the batch sizes each is run at.
const SHAPES: &[(usize, usize, &[usize])] = &[
    (10, 2028, &[1, 64]),
    (128, 1024, &[1, 16]),
    (1000, 1280, &[1, 16]),
];
const SPARSITY: f64 = 0.8;

#[derive(Clone, Copy)]
enum Format {
    F32Random,
    F32Block4,
    F32Block4Of16,
    I8Block16,
}

impl Format {
    const ALL: [Format; 4] = [
        Format::F32Random,
        Format::F32Block4,
        Format::F32Block4Of16,
        Format::I8Block16,
    ];

    fn name(self) -> &'static str {
        match self {
            Format::F32Random => "f32 CSR",
            Format::F32Block4 => "f32 1x4",
            Format::F32Block4Of16 => "f32 1x4 (1x16-pruned)",
            Format::I8Block16 => "int8 1x16",
        }
    }

    /// Width of the pruned blocks, and the block of the encoding.
    fn blocks(self) -> (usize, Option<[usize; 2]>) {
        match self {
            Format::F32Random => (1, None),
            Format::F32Block4 => (4, Some([1, 4])),
            Format::F32Block4Of16 => (16, Some([1, 4])),
            Format::I8Block16 => (16, Some([1, 16])),
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Which weights are nonzero: in each row, exactly `1 − SPARSITY` of the whole blocks
/// (rounded), chosen at random; columns past the last whole block stay zero.
fn keep_mask(rng: &mut Rng, units: usize, depth: usize, block: usize) -> Vec<bool> {
    let blocks = depth / block;
    let kept = ((1.0 - SPARSITY) * blocks as f64).round() as usize;
    let mut keep = vec![false; units * depth];
    let mut order: Vec<usize> = (0..blocks).collect();
    for u in 0..units {
        for i in 0..kept {
            let j = i + rng.below(blocks - i);
            order.swap(i, j);
            let b = order[i];
            keep[u * depth + b * block..u * depth + (b + 1) * block].fill(true);
        }
    }
    keep
}

fn info(
    name: &str,
    dtype: DType,
    shape: &[usize],
    quantization: Option<Quantization>,
    sparsity: Option<ir::Sparsity>,
    constant: Option<TensorBuf>,
) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        quantization,
        sparsity,
        constant: constant.map(Arc::new),
    }
}

/// A prepared FULLY_CONNECTED and the buffers to run it on.
struct Bench {
    kernel: Box<dyn Kernel>,
    x: TensorBuf,
    w: TensorBuf,
    b: TensorBuf,
    out: TensorBuf,
}

impl Bench {
    fn new(infos: [TensorInfo; 3], output: ir::Tensor, x: TensorBuf) -> Result<Bench, String> {
        let op = Operator {
            op: Op::FullyConnected(FullyConnectedOptions::default()),
            inputs: vec![Some(0), Some(1), Some(2)],
            outputs: vec![3],
        };
        let ctx = PrepareCtx {
            op: &op,
            inputs: infos.iter().map(Some).collect(),
            outputs: vec![&output],
            cpu: ferrolite::kernels::cpu::CpuFeatures::detect(),
        };
        let prepared = exec::prepare(&ctx).map_err(|e| e.to_string())?;
        let len = prepared.output_shapes[0].iter().product();
        let constant = |i: &TensorInfo| i.constant.as_deref().cloned().ok_or("not constant");
        Ok(Bench {
            kernel: prepared.kernel,
            w: constant(&infos[1])?,
            b: constant(&infos[2])?,
            out: TensorBuf::zeros(output.dtype, len),
            x,
        })
    }

    fn run(&mut self) -> Result<(), String> {
        let views = [self.x.view(), self.w.view(), self.b.view()];
        let mut outs: [ViewMut<'_>; 1] = [self.out.view_mut()];
        self.kernel
            .run(&views, &mut outs)
            .map_err(|e| e.to_string())
    }
}

/// The sparse and the dense FULLY_CONNECTED on the same weights.
fn pair(
    format: Format,
    units: usize,
    depth: usize,
    batch: usize,
) -> Result<(Bench, Bench), String> {
    let mut rng = Rng(0x5EED ^ (units * 31 + depth) as u64);
    let (pruned_block, encoding) = format.blocks();
    let keep = keep_mask(&mut rng, units, depth, pruned_block);
    let shape = [units, depth];
    let encode = |dense: TensorBuf| {
        ferrolite::sparse::encode(&dense, &shape, encoding.as_ref().map(|b| b.as_slice()))
            .map_err(|e| e.to_string())
    };
    if let Format::I8Block16 = format {
        let dense: Vec<i8> = keep
            .iter()
            .map(|&k| {
                if k {
                    (rng.below(255) as i32 - 127) as i8
                } else {
                    0
                }
            })
            .collect();
        let x = TensorBuf::I8(
            (0..batch * depth)
                .map(|_| rng.below(256) as u8 as i8)
                .collect(),
        );
        let bias = TensorBuf::I32((0..units).map(|_| rng.below(2001) as i32 - 1000).collect());
        let w_q = Quantization {
            scale: (0..units).map(|_| 0.002 + 0.01 * rng.unit()).collect(),
            zero_point: vec![0; units],
            ..Quantization::per_tensor(1.0, 0)
        };
        let x_q = Some(Quantization::per_tensor(0.02, -3));
        let mut output = ir::Tensor::activation("y", DType::I8, vec![batch, units]);
        output.quantization = Some(Quantization::per_tensor(0.5, 2));
        let (sparsity, stored) = encode(TensorBuf::I8(dense.clone()))?;
        let make = |w: TensorInfo| {
            let infos = [
                info("x", DType::I8, &[batch, depth], x_q.clone(), None, None),
                w,
                info("b", DType::I32, &[units], None, None, Some(bias.clone())),
            ];
            Bench::new(infos, output.clone(), x.clone())
        };
        let sparse = info(
            "w",
            DType::I8,
            &shape,
            Some(w_q.clone()),
            Some(sparsity),
            Some(stored),
        );
        let dense = info(
            "w",
            DType::I8,
            &shape,
            Some(w_q),
            None,
            Some(TensorBuf::I8(dense)),
        );
        return Ok((make(sparse)?, make(dense)?));
    }
    let dense: Vec<f32> = keep
        .iter()
        .map(|&k| if k { rng.unit() * 2.0 - 1.0 } else { 0.0 })
        .collect();
    let x = TensorBuf::F32((0..batch * depth).map(|_| rng.unit()).collect());
    let bias = TensorBuf::F32((0..units).map(|_| rng.unit() - 0.5).collect());
    let output = ir::Tensor::activation("y", DType::F32, vec![batch, units]);
    let (sparsity, stored) = encode(TensorBuf::F32(dense.clone()))?;
    let make = |w: TensorInfo| {
        let infos = [
            info("x", DType::F32, &[batch, depth], None, None, None),
            w,
            info("b", DType::F32, &[units], None, None, Some(bias.clone())),
        ];
        Bench::new(infos, output.clone(), x.clone())
    };
    let sparse = info("w", DType::F32, &shape, None, Some(sparsity), Some(stored));
    let dense = info(
        "w",
        DType::F32,
        &shape,
        None,
        None,
        Some(TensorBuf::F32(dense)),
    );
    Ok((make(sparse)?, make(dense)?))
}

fn main() {
    // `cargo bench -- FILTER` runs the formats whose name contains FILTER.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let budget = Duration::from_millis(1500);
    println!(
        "{:<10} {:>5}  {:<22} {:>11} {:>11} {:>16}",
        "weights", "batch", "format", "sparse µs", "dense µs", "dense / sparse"
    );
    for &(units, depth, batches) in SHAPES {
        for &batch in batches {
            for format in Format::ALL {
                if filter
                    .as_ref()
                    .is_some_and(|f| !format.name().contains(f.as_str()))
                {
                    continue;
                }
                let shape = format!("{units}x{depth}");
                let result = pair(format, units, depth, batch).and_then(|(mut s, mut d)| {
                    paired_median_micros(|| s.run(), || d.run(), budget, 9)
                });
                match result {
                    Ok((sparse, dense, ratio)) => println!(
                        "{shape:<10} {batch:>5}  {:<22} {sparse:>11.2} {dense:>11.2} {:>15.2}×",
                        format.name(),
                        1.0 / ratio
                    ),
                    Err(e) => println!("{shape:<10} {batch:>5}  {:<22} error: {e}", format.name()),
                }
            }
        }
    }
}
