//! `ferrolite run`: one batch through the interpreter, from `.npy`/`.npz` to `.npy`/`.npz`.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::load_runnable;
use crate::data::{files, npy, npz};
use crate::interp::{Interpreter, Value};
use crate::ir::{DType, Model};

#[derive(clap::Args)]
#[command(after_help = "\
A float32 array given to a quantized (int8/uint8) input is quantized with that input's \
own scale and zero point (said on stderr), so `run` takes the same images as the float \
model.

Examples:
  ferrolite run model_int8.tflite --input images.npy -o scores.npy --top-k 3
  ferrolite run add.tflite --input a.npy --input b.npy -o sum.npy
  ferrolite run detector.tflite --input batch.npz -o outputs.npz")]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Input arrays: one .npy per model input, in the model's input order, or one .npz
    /// whose entry names are the inputs' names (signature or tensor names). Any batch.
    #[arg(long, short, required = true)]
    input: Vec<PathBuf>,
    /// Where to write: OUT.npz for every output by name, or OUT.npy once per output in
    /// the model's output order.
    #[arg(long, short, required = true, alias = "out")]
    output: Vec<PathBuf>,
    /// Replace output files that exist.
    #[arg(long)]
    force: bool,
    /// Print the K highest-scoring classes of each row of the first output.
    #[arg(long, value_name = "K")]
    top_k: Option<usize>,
}

/// The name a user knows an input or output by: its signature name, else its tensor's.
fn io_names(
    model: &Model,
    tensors: &[usize],
    signature: Option<&[(String, usize)]>,
) -> Vec<String> {
    tensors
        .iter()
        .map(|&t| {
            signature
                .and_then(|s| s.iter().find(|(_, i)| *i == t))
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| model.graph.tensors[t].name.clone())
        })
        .collect()
}

fn is_npz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

pub fn run(a: Args, threads: usize) -> Result<i32> {
    for output in &a.output {
        let mut inputs: Vec<&Path> = vec![&a.model];
        inputs.extend(a.input.iter().map(PathBuf::as_path));
        files::refuse_overwrite(&inputs, output)?;
        super::check_output_file(output, a.force)?;
    }
    if a.top_k == Some(0) {
        bail!("--top-k must be at least 1");
    }
    let (model, _) = load_runnable(&a.model)?;
    let graph = &model.graph;
    let signature = model.signature.as_ref();
    let input_names = io_names(
        &model,
        &graph.inputs,
        signature.map(|s| s.inputs.as_slice()),
    );
    let output_names = io_names(
        &model,
        &graph.outputs,
        signature.map(|s| s.outputs.as_slice()),
    );

    let given = read_inputs(&a.input, &input_names)?;
    let mut values = Vec::with_capacity(given.len());
    for ((value, name), &t) in given.into_iter().zip(&input_names).zip(&graph.inputs) {
        values.push(fit_input(value, name, &graph.tensors[t])?);
    }

    let outputs_wanted = match &a.output[..] {
        [one] if is_npz(one) => None,
        paths if paths.len() == graph.outputs.len() => Some(paths),
        [_] => bail!(
            "the model has {} outputs; give -o OUT.npz to write them all, or -o once per output",
            graph.outputs.len()
        ),
        paths => bail!(
            "{} -o paths for a model with {} output(s)",
            paths.len(),
            graph.outputs.len()
        ),
    };

    let mut interp = Interpreter::new(model.clone()).context("planning the model")?;
    interp.set_threads(threads).context("planning the model")?;
    let started = Instant::now();
    let outputs = interp.run(&values).context("running the model")?;
    let seconds = started.elapsed().as_secs_f64();

    match outputs_wanted {
        None => {
            let named: Vec<(String, Value)> = output_names
                .iter()
                .cloned()
                .zip(outputs.iter().cloned())
                .collect();
            files::write_atomic(&a.output[0], &npz::to_bytes(&named)?)?;
        }
        Some(paths) => {
            for (path, value) in paths.iter().zip(&outputs) {
                files::write_atomic(path, &npy::to_bytes(value)?)?;
            }
        }
    }
    let rows = values
        .first()
        .and_then(|v| v.shape.first())
        .copied()
        .unwrap_or(1);
    eprintln!(
        "ran {} on {rows} row{} in {:.2} ms",
        a.model.display(),
        if rows == 1 { "" } else { "s" },
        seconds * 1e3
    );
    for (k, (name, value)) in output_names.iter().zip(&outputs).enumerate() {
        let path = match outputs_wanted {
            None => format!("{} (entry '{name}')", a.output[0].display()),
            Some(paths) => paths[k].display().to_string(),
        };
        eprintln!(
            "  output '{name}': {} {:?} → {path}",
            value.dtype(),
            value.shape
        );
    }
    if let (Some(k), Some(first), Some(&t)) = (a.top_k, outputs.first(), graph.outputs.first()) {
        let out = super::Out::new(false);
        for line in top_k_lines(first, &graph.tensors[t], k) {
            out.line(line);
        }
    }
    Ok(0)
}

/// The arrays given, in the model's input order.
fn read_inputs(paths: &[PathBuf], names: &[String]) -> Result<Vec<Value>> {
    if let [one] = paths {
        if is_npz(one) {
            let mut arrays = npz::read(one)?;
            let mut ordered = Vec::with_capacity(names.len());
            for name in names {
                let Some(at) = arrays.iter().position(|(n, _)| n == name) else {
                    let found: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
                    bail!(
                        "{} has no array named '{name}' (it holds {}); the model's inputs are {}",
                        one.display(),
                        found.join(", "),
                        names.join(", ")
                    );
                };
                ordered.push(arrays.swap_remove(at).1);
            }
            return Ok(ordered);
        }
    }
    if paths.len() != names.len() {
        bail!(
            "the model has {} input(s) ({}) and {} --input file(s) were given",
            names.len(),
            names.join(", "),
            paths.len()
        );
    }
    paths
        .iter()
        .map(|p| npy::read(p).map_err(anyhow::Error::from))
        .collect()
}

/// `value` in the type the model's input `decl` takes: as it is, or quantized with the
/// input's own scale and zero point when float data meets a quantized input.
fn fit_input(value: Value, name: &str, decl: &crate::ir::Tensor) -> Result<Value> {
    if value.dtype() == decl.dtype {
        return Ok(value);
    }
    let quantized = matches!(decl.dtype, DType::I8 | DType::U8);
    if value.dtype() == DType::F32 && quantized {
        if let Some((scale, zero_point)) = decl.scale_zero_point() {
            eprintln!(
                "note: input '{name}' takes {}; quantized the float32 array with its scale {scale:e} and zero point {zero_point}",
                decl.dtype
            );
            return Ok(crate::quant::report::sample_for(decl, &value)?);
        }
    }
    bail!(
        "input '{name}' takes {} and was given {} data{}",
        decl.dtype,
        value.dtype(),
        if quantized {
            ""
        } else {
            "; convert the array to that type"
        }
    )
}

/// "row i: class (score), …" for the `k` best classes of each row, scores dequantized.
fn top_k_lines(output: &Value, decl: &crate::ir::Tensor, k: usize) -> Vec<String> {
    let rows = output.shape.first().copied().unwrap_or(1).max(1);
    let mut scores = output.data.to_f64();
    if let (false, Some((s, zp))) = (decl.dtype.is_float(), decl.scale_zero_point()) {
        for v in &mut scores {
            *v = f64::from(s) * (*v - zp as f64);
        }
    }
    let width = scores.len() / rows;
    if width == 0 {
        return Vec::new();
    }
    scores
        .chunks(width)
        .enumerate()
        .map(|(r, row)| {
            let mut order: Vec<usize> = (0..row.len()).collect();
            // Highest first; ties keep the lower class first.
            order.sort_by(|&i, &j| row[j].total_cmp(&row[i]).then(i.cmp(&j)));
            let best: Vec<String> = order
                .iter()
                .take(k)
                .map(|&c| format!("{c} ({})", super::significant(row[c])))
                .collect();
            format!("row {r}: {}", best.join(", "))
        })
        .collect()
}
