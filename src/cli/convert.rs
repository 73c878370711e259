//! `ferrolite convert`: read a float model, optionally quantize it, write `.tflite`.
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{default_data_dir, load_input, Out};
use crate::data::{files, npy};
use crate::quant::{self, Int8Options, IoType, Mode, Samples};

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantizeArg {
    None,
    Float16,
    Dynamic,
    Int8,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IoArg {
    Float32,
    Int8,
    Uint8,
}

#[derive(clap::Args)]
pub struct Args {
    /// Input model: a model directory (from `ferrolite train`) or a float .tflite.
    input: PathBuf,
    /// Output .tflite path (must differ from the input).
    #[arg(short, long)]
    output: PathBuf,
    /// Quantization: none (rewrite as is), float16 (float16 constants), dynamic (int8
    /// weights, hybrid kernels) or int8 (full integer, calibrated).
    #[arg(long, value_enum, default_value = "none")]
    quantize: QuantizeArg,
    /// Input/output type of an int8 model: int8 (no boundary ops), uint8 (QUANTIZE at
    /// both ends, zero point + 128) or float32 (QUANTIZE in, DEQUANTIZE out)
    /// [default: int8]. Only with --quantize int8.
    #[arg(long, value_enum)]
    io: Option<IoArg>,
    /// Calibrate on the first N MNIST training images, one at a time.
    #[arg(long, default_value_t = 100)]
    calibration: usize,
    /// Calibrate on the rows of this float32 .npy instead (first axis = samples).
    #[arg(long)]
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
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    files::refuse_overwrite(&[&a.input], &a.output)?;
    let started = Instant::now();
    let model = load_input(&a.input)?;
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
    let needs_samples = mode == Mode::Int8 || (a.report && mode != Mode::None);
    let samples = if needs_samples {
        Some(match &a.calibration_npy {
            Some(path) => {
                let batch =
                    npy::read(path).with_context(|| format!("reading {}", path.display()))?;
                Samples::from_batch(&model, &batch, None)?
            }
            None => Samples::mnist_train(&model, &default_data_dir(a.data.clone()), a.calibration)?,
        })
    } else {
        None
    };
    let converted = quant::convert(&model, mode, &options, samples.as_ref())?;
    let bytes = crate::tflite::write(&converted.model).context("writing the model")?;
    let seconds = started.elapsed().as_secs_f64();
    files::write_atomic(&a.output, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, {} → {} constant bytes) in {:.3} s{}",
        a.output.display(),
        bytes.len(),
        model.graph.constant_bytes(),
        converted.model.graph.constant_bytes(),
        seconds,
        samples
            .as_ref()
            .filter(|_| mode == Mode::Int8)
            .map(|s| format!(" including calibration on {} samples", s.len()))
            .unwrap_or_default()
    );
    let report = match (&samples, a.report) {
        (Some(s), true) => Some(quant::layer_report(&model, &converted.model, s)?),
        _ => None,
    };
    if let Some(layers) = &report {
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
    if a.json {
        out.json(&serde_json::json!({
            "output": a.output.display().to_string(),
            "bytes": bytes.len(),
            "seconds": seconds,
            "calibration_samples": samples.as_ref().map(|s| s.len()),
            "report": report,
        }));
    }
    Ok(0)
}
