//! `ferrolite convert`: read a float model, optionally quantize it, write `.tflite`.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{default_data_dir, load_input, Out};
use crate::data::{files, npy};
use crate::quant::{self, Int8Options, IoType, Mode, Samples};
use crate::sparse::{self, SparsifyOptions};

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantizeArg {
    None,
    Float16,
    Dynamic,
    Int8,
}

#[derive(Clone, Copy, PartialEq, clap::ValueEnum)]
enum SparseArg {
    Auto,
    Off,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IoArg {
    Float32,
    Int8,
    Uint8,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ferrolite convert models/cnn -o cnn.tflite\n  ferrolite convert cnn.tflite -o cnn_int8.tflite --quantize int8 --eval\n  ferrolite convert models/pruned -o pruned_int8.tflite --quantize int8 --strip-names"
)]
pub struct Args {
    /// Input model: a model directory (from `ferrolite train`) or a float .tflite.
    input: PathBuf,
    /// Output .tflite path (must differ from the input).
    #[arg(short, long, alias = "out")]
    output: PathBuf,
    /// Replace the output file if it exists.
    #[arg(long)]
    force: bool,
    /// Quantization: none (rewrite as is), float16 (float16 constants), dynamic (int8
    /// weights, hybrid kernels) or int8 (full integer, calibrated).
    #[arg(long, value_enum, default_value = "none")]
    quantize: QuantizeArg,
    /// Input/output type of an int8 model: int8 (no boundary ops), uint8 (QUANTIZE at
    /// both ends, zero point + 128) or float32 (QUANTIZE in, DEQUANTIZE out)
    /// [default: int8]. Only with --quantize int8.
    #[arg(long, value_enum)]
    io: Option<IoArg>,
    /// Calibrate on the first N MNIST training images, one at a time [default: 100].
    #[arg(long, value_name = "N", conflicts_with = "calibration_npy")]
    calibration: Option<usize>,
    /// Calibrate on the rows of this float32 .npy instead (first axis = samples).
    #[arg(long, value_name = "FILE")]
    calibration_npy: Option<PathBuf>,
    /// MNIST directory holding train-images-idx3-ubyte(.gz) [default: fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// One scale for FULLY_CONNECTED weights instead of one per output channel.
    #[arg(long)]
    per_tensor_dense: bool,
    /// Print each quantized tensor's error against the float model over the
    /// calibration samples (SQNR, cosine, max abs error), worst first.
    #[arg(long)]
    report: bool,
    /// Sparse weights: auto stores each FULLY_CONNECTED / CONV_2D / DEPTHWISE_CONV_2D
    /// weight with at least 30% exact zeros in the smallest encoding LiteRT runs (CSR,
    /// 1x4 or 1x16 blocks read by FC, or CSR behind DENSIFY) when that shrinks the file;
    /// off keeps every weight dense. Runs after quantization.
    #[arg(long, value_enum, default_value = "auto")]
    sparse: SparseArg,
    /// Replace tensor names by their index and drop the description, for the smallest
    /// file; signature input/output names are kept.
    #[arg(long)]
    strip_names: bool,
    /// Also measure the MNIST test accuracy of the input and of the written model.
    #[arg(long)]
    eval: bool,
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    json: bool,
    /// Convert even when weights or constants hold NaN or infinity.
    #[arg(long)]
    allow_nonfinite: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    files::refuse_overwrite(&[&a.input], &a.output)?;
    super::check_output_file(&a.output, a.force)?;
    let started = Instant::now();
    let model = load_input(&a.input)?;
    let nonfinite = model.graph.nonfinite_constants();
    if !nonfinite.is_empty() && !a.allow_nonfinite {
        anyhow::bail!(
            "{}: weights hold NaN or infinity: {}; every output they touch would be NaN (pass --allow-nonfinite to convert anyway)",
            a.input.display(),
            crate::ir::NonFinite::list(&nonfinite)
        );
    }
    let mode = match a.quantize {
        QuantizeArg::None => Mode::None,
        QuantizeArg::Float16 => Mode::Float16,
        QuantizeArg::Dynamic => Mode::Dynamic,
        QuantizeArg::Int8 => Mode::Int8,
    };
    // Flags that would have no effect are refused rather than silently ignored.
    if a.io.is_some() && mode != Mode::Int8 {
        anyhow::bail!(
            "--io applies to --quantize int8 only (float16 and dynamic models keep float32 inputs and outputs)"
        );
    }
    if a.per_tensor_dense && !matches!(mode, Mode::Int8 | Mode::Dynamic) {
        anyhow::bail!("--per-tensor-dense applies to --quantize int8 or dynamic only");
    }
    let options = Int8Options {
        io: match a.io.unwrap_or(IoArg::Int8) {
            IoArg::Float32 => IoType::Float32,
            IoArg::Int8 => IoType::Int8,
            IoArg::Uint8 => IoType::Uint8,
        },
        per_tensor_dense: a.per_tensor_dense,
    };
    if mode != Mode::None {
        // Before calibration, which would otherwise blame the samples.
        quant::check_float_model(&model)?;
    }
    let needs_samples = mode == Mode::Int8 || (a.report && mode != Mode::None);
    if !needs_samples && (a.calibration.is_some() || a.calibration_npy.is_some()) {
        anyhow::bail!(
            "--calibration and --calibration-npy apply to --quantize int8 (or --report with another --quantize) only"
        );
    }
    if a.calibration == Some(0) {
        anyhow::bail!("--calibration 0 leaves nothing to calibrate on; give at least 1 image");
    }
    let samples = if needs_samples {
        Some(match &a.calibration_npy {
            Some(path) => {
                let batch = npy::read(path)?;
                Samples::from_batch(&model, &batch, None)?
            }
            None => Samples::mnist_train(
                &model,
                &default_data_dir(a.data.clone()),
                a.calibration.unwrap_or(100),
            )?,
        })
    } else {
        None
    };
    let converted = quant::convert(&model, mode, &options, samples.as_ref())?;
    let (mut final_model, sparse) = match a.sparse {
        SparseArg::Auto => sparse::sparsify(&converted.model, &SparsifyOptions::default())
            .context("storing sparse weights")?,
        SparseArg::Off => (converted.model.clone(), Vec::new()),
    };
    if a.strip_names {
        final_model = crate::tflite::strip_names(&final_model);
    }
    let bytes = crate::tflite::write(&final_model).context("writing the model")?;
    let seconds = started.elapsed().as_secs_f64();
    // A model directory's size is that of the float .tflite it exports to.
    let input_bytes = match std::fs::metadata(&a.input) {
        Ok(m) if m.is_file() => m.len() as usize,
        _ => crate::tflite::write(&model)
            .context("exporting the input")?
            .len(),
    };
    files::write_atomic(&a.output, &bytes)?;
    let file_name = a
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let zip_bytes = crate::verify::size::zip_bytes(&file_name, &bytes);
    eprintln!(
        "wrote {}: {} → {} bytes ({}), {} zipped; {} → {} constant bytes{}; in {:.3} s{}",
        a.output.display(),
        super::thousands(input_bytes as u64),
        super::thousands(bytes.len() as u64),
        size_ratio(input_bytes, bytes.len()),
        super::thousands(zip_bytes as u64),
        super::thousands(model.graph.constant_bytes() as u64),
        super::thousands(final_model.graph.constant_bytes() as u64),
        if sparse.is_empty() {
            String::new()
        } else {
            format!(
                ", {} sparse weight{} saving {} file bytes",
                sparse.len(),
                if sparse.len() == 1 { "" } else { "s" },
                sparse.iter().map(|s| s.file_bytes_saved).sum::<usize>()
            )
        },
        seconds,
        samples
            .as_ref()
            .filter(|_| mode == Mode::Int8)
            .map(|s| format!(" including calibration on {} samples", s.len()))
            .unwrap_or_default()
    );
    for s in &sparse {
        eprintln!(
            "  sparse {} '{}': {}, {:.1}% zeros, {} → {} bytes (file -{} bytes)",
            s.tensor,
            s.name,
            s.encoding.name(),
            100.0 * s.zeros as f64 / s.elements.max(1) as f64,
            s.dense_bytes,
            s.sparse_bytes,
            s.file_bytes_saved
        );
    }
    let report = match (&samples, a.report) {
        (Some(s), true) => Some(quant::layer_report(&model, &converted.model, s)?),
        _ => None,
    };
    if let Some(layers) = &report {
        if matches!(mode, Mode::Dynamic | Mode::Float16) {
            out.line(
                "activations stay float32 in this model; their error against the float model comes from the quantized weights:",
            );
        }
        out.line(format!(
            "{:>10} {:>9} {:>12}  tensor",
            "SQNR dB", "cosine", "max |err|"
        ));
        for l in layers {
            out.line(format!(
                "{:>10.2} {:>9.6} {:>12.4e}  {} '{}' ({})",
                l.sqnr_db, l.cosine, l.max_abs_error, l.tensor, l.name, l.dtype
            ));
        }
    }
    let accuracies = if a.eval {
        let mnist = crate::data::load(&default_data_dir(a.data.clone()), crate::data::Split::Test)?;
        let accuracy_of = |m: &crate::ir::Model, what: &str| -> Result<f64> {
            let mut interp = crate::interp::Interpreter::new(m.clone())
                .with_context(|| format!("planning the {what} model"))?;
            let acc = crate::verify::accuracy::evaluate(&mut interp, &mnist, None, 100, |_| {})
                .with_context(|| format!("evaluating the {what} model"))?;
            Ok(acc.accuracy)
        };
        let before = accuracy_of(&model, "input")?;
        let after = accuracy_of(&final_model, "written")?;
        out.line(format!(
            "MNIST test accuracy: {:.2}% → {:.2}% ({:+.2} pp) on {} images",
            100.0 * before,
            100.0 * after,
            100.0 * (after - before),
            super::thousands(mnist.count as u64)
        ));
        Some((before, after))
    } else {
        None
    };
    if a.json {
        out.json(&serde_json::json!({
            "output": a.output.display().to_string(),
            "input_bytes": input_bytes,
            "accuracy_before": accuracies.map(|a| a.0),
            "accuracy_after": accuracies.map(|a| a.1),
            "bytes": bytes.len(),
            "zip_bytes": zip_bytes,
            "sparse": sparse.iter().map(|s| serde_json::json!({
                "tensor": s.tensor,
                "name": s.name,
                "encoding": s.encoding.name(),
                "elements": s.elements,
                "zeros": s.zeros,
                "dense_bytes": s.dense_bytes,
                "sparse_bytes": s.sparse_bytes,
                "file_bytes_saved": s.file_bytes_saved,
            })).collect::<Vec<_>>(),
            "seconds": seconds,
            "calibration_samples": samples.as_ref().map(|s| s.len()),
            "report": report,
        }));
    }
    Ok(0)
}

/// "3.48× smaller" (or larger), for the before → after line.
fn size_ratio(before: usize, after: usize) -> String {
    match (before, after) {
        (0, _) | (_, 0) => "n/a".to_string(),
        (b, a) if a == b => "same size".to_string(),
        (b, a) if a <= b => format!("{:.2}× smaller", b as f64 / a as f64),
        (b, a) => format!("{:.2}× larger", a as f64 / b as f64),
    }
}
