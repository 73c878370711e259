use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::json;

use super::{load_runnable, Out};
use crate::interp::Interpreter;
use crate::ir::{DimensionMetadata, Model, Op, Tensor};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ferrolite inspect model.tflite\n  ferrolite inspect models/cnn --json"
)]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let (model, bytes) = load_for_inspection(&a.model)?;
    let file_bytes = bytes.len();
    let constant_bytes = model.graph.constant_bytes();
    let missing = missing_ops(&model);
    // Planning validates every op; a model that cannot be planned is still inspectable.
    // With ops missing, planning would only name the first of them again.
    let (arena, plan_error) = if !missing.is_empty() {
        (None, None)
    } else {
        match Interpreter::new(model.clone()) {
            Ok(i) => (Some(i.plan().arena_bytes()), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };

    let g = &model.graph;
    let file_name = a
        .model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let zip_bytes = crate::verify::size::zip_bytes(&file_name, &bytes);
    out.line(format!(
        "{}: {} bytes ({} zipped), {} operators, {} tensors, {} constant bytes, arena {}",
        a.model.display(),
        file_bytes,
        zip_bytes,
        g.operators.len(),
        g.tensors.len(),
        constant_bytes,
        arena
            .map(|b| format!("{b} bytes"))
            .unwrap_or_else(|| "n/a".into())
    ));
    if let Some(e) = &plan_error {
        out.line(format!("the interpreter cannot plan this model: {e}"));
    }
    let quirks = crate::tflite::quirks(&bytes);
    for q in &quirks {
        out.line(format!("note: {q}"));
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(name, ops)| {
                let at: Vec<String> = ops.iter().map(|i| format!("#{i}")).collect();
                format!("{name} ({})", at.join(", "))
            })
            .collect();
        out.line(format!(
            "ferrolite cannot run this model: it lacks {} {} the model uses: {}",
            missing.len(),
            if missing.len() == 1 {
                "operator"
            } else {
                "operators"
            },
            list.join(", ")
        ));
    }
    out.line(format!("inputs: {}", names(&model, &g.inputs)));
    out.line(format!("outputs: {}", names(&model, &g.outputs)));
    out.line("operators:");
    for (i, op) in g.operators.iter().enumerate() {
        let ins: Vec<String> = op
            .inputs
            .iter()
            .map(|t| t.map(|t| t.to_string()).unwrap_or_else(|| "-".into()))
            .collect();
        let outs: Vec<String> = op.outputs.iter().map(|t| t.to_string()).collect();
        out.line(format!(
            "  #{i:<3} {:<18} in [{}] out [{}] {}",
            op.op.name(),
            ins.join(", "),
            outs.join(", "),
            op.op.summary()
        ));
    }
    out.line("tensors:");
    for (i, t) in g.tensors.iter().enumerate() {
        out.line(format!(
            "  {i:<4} {:<8} {:<16} {:<10} {}{}{} '{}'",
            t.dtype.name(),
            shape_text(t),
            t.data
                .as_ref()
                .map(|d| format!("{} B", d.len()))
                .unwrap_or_else(|| "-".into()),
            quant_text(t),
            if t.sparsity.is_some() { " " } else { "" },
            sparsity_text(t),
            t.name
        ));
    }
    let sparse: Vec<_> = g
        .tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| t.sparsity.is_some())
        .collect();
    if !sparse.is_empty() {
        out.line("sparse tensors (dense → stored bytes, values + index vectors):");
        for (i, t) in &sparse {
            out.line(format!(
                "  {i:<4} {} → {} B '{}'",
                t.dense_bytes(),
                crate::sparse::stored_bytes(t),
                t.name
            ));
        }
    }
    if a.json {
        let tensors: Vec<_> = g
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                json!({
                    "index": i,
                    "name": t.name,
                    "dtype": t.dtype.name(),
                    "shape": t.shape,
                    "shape_signature": t.shape_signature,
                    "constant_bytes": t.data.as_ref().map(|d| d.len()),
                    "quantization": t.quantization.as_ref().filter(|q| q.is_quantized()).map(|q| json!({
                        "scale": q.scale,
                        "zero_point": q.zero_point,
                        "quantized_dimension": q.quantized_dimension,
                    })),
                    "sparsity": t.sparsity.as_ref().map(|_| sparsity_text(t)),
                    "dense_bytes": t.sparsity.as_ref().map(|_| t.dense_bytes()),
                    "stored_bytes": t.sparsity.as_ref().map(|_| crate::sparse::stored_bytes(t)),
                })
            })
            .collect();
        let ops: Vec<_> = g
            .operators
            .iter()
            .enumerate()
            .map(|(i, op)| {
                json!({
                    "index": i,
                    "op": op.op.name(),
                    "inputs": op.inputs,
                    "outputs": op.outputs,
                    "options": op.op.summary(),
                })
            })
            .collect();
        out.json(&json!({
            "file": a.model.display().to_string(),
            "file_bytes": file_bytes,
            "zip_bytes": zip_bytes,
            "sparse": sparse.iter().map(|(i, t)| json!({
                "tensor": i,
                "name": t.name,
                "dense_bytes": t.dense_bytes(),
                "stored_bytes": crate::sparse::stored_bytes(t),
            })).collect::<Vec<_>>(),
            "constant_bytes": constant_bytes,
            "arena_bytes": arena,
            "plan_error": plan_error,
            "notes": quirks,
            "unsupported_ops": missing.iter().map(|(name, ops)| json!({
                "op": name,
                "operators": ops,
            })).collect::<Vec<_>>(),
            "inputs": g.inputs,
            "outputs": g.outputs,
            "operators": ops,
            "tensors": tensors,
        }));
    }
    Ok(0)
}

/// A `.tflite` file read with its unsupported operators kept (so the listing is whole),
/// or a model directory exported.
fn load_for_inspection(path: &std::path::Path) -> Result<(Model, Vec<u8>)> {
    if path.is_dir() {
        return load_runnable(path);
    }
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::TFLITE)?;
    let model = crate::tflite::read_for_inspection(&bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok((model, bytes))
}

/// Each operator kind ferrolite lacks (custom ops by their custom code), with the indices
/// of the operators that use it, in order of first use.
fn missing_ops(model: &Model) -> Vec<(String, Vec<usize>)> {
    let mut missing: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, op) in model.graph.operators.iter().enumerate() {
        let Op::Unsupported { custom_code, .. } = &op.op else {
            continue;
        };
        let name = match custom_code {
            Some(c) => format!("custom '{c}'"),
            None => op.op.name().to_string(),
        };
        match missing.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ops)) => ops.push(i),
            None => missing.push((name, vec![i])),
        }
    }
    missing
}

/// The shape as the file's signature states it: -1 where a dimension may be resized
/// (the batch of a converted Keras model), the stored size elsewhere.
fn shape_text(t: &Tensor) -> String {
    match &t.shape_signature {
        Some(sig) if sig.len() == t.shape.len() && sig.contains(&-1) => format!("{sig:?}"),
        _ => format!("{:?}", t.shape),
    }
}

fn names(model: &Model, idx: &[usize]) -> String {
    idx.iter()
        .map(|&i| {
            let t = &model.graph.tensors[i];
            format!("{i} '{}' {} {}", t.name, t.dtype, shape_text(t))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn quant_text(t: &Tensor) -> String {
    match &t.quantization {
        Some(q) if q.is_quantized() => {
            if q.scale.len() == 1 {
                format!(
                    "scale {:e} zp {}",
                    q.scale[0],
                    q.zero_point.first().copied().unwrap_or(0)
                )
            } else {
                format!(
                    "per-axis dim {}: {} scales",
                    q.quantized_dimension,
                    q.scale.len()
                )
            }
        }
        _ => String::new(),
    }
}

fn sparsity_text(t: &Tensor) -> String {
    let Some(s) = &t.sparsity else {
        return String::new();
    };
    let levels: Vec<String> = s
        .dim_metadata
        .iter()
        .map(|d| match d {
            DimensionMetadata::Dense { size } => format!("D{size}"),
            DimensionMetadata::SparseCsr { indices, .. } => format!("CSR({} idx)", indices.len()),
        })
        .collect();
    let dense = t.num_elements().max(1);
    let stored = t
        .data
        .as_ref()
        .map(|d| d.len() / t.dtype.size())
        .unwrap_or(0);
    format!(
        "sparse order {:?} blocks {:?} [{}] {:.1}% stored",
        s.traversal_order,
        s.block_map,
        levels.join(","),
        100.0 * stored as f64 / dense as f64
    )
}
