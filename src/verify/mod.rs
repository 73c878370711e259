//! Checks of models: MNIST accuracy, cross-runtime agreement with tract, timing.

pub mod accuracy;
pub mod compare;
#[cfg(feature = "tract")]
pub mod crosscheck;
pub mod lower;
pub mod size;
pub mod timing;
#[cfg(feature = "tract")]
pub mod tract;

use crate::interp::Value;

/// Why a check could not be carried out (a disagreement is a result, not an error).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Run(#[from] crate::interp::RunError),
    #[error(transparent)]
    Plan(#[from] crate::interp::PlanError),
    #[error(transparent)]
    Write(#[from] crate::tflite::WriteError),
    #[error(transparent)]
    Sparse(#[from] crate::sparse::SparseError),
    #[error("{0}")]
    Input(String),
    #[error("tract cannot run this model: {0}")]
    Tract(String),
    #[error("outputs differ in structure: {0}")]
    Structure(String),
    #[error("the lowered model is malformed: {0}")]
    Malformed(crate::ir::GraphError),
}

/// Largest differences between two sets of outputs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Diff {
    pub max_abs: f64,
    /// Largest |a−b| / max(|a|,|b|) over elements where that denominator is nonzero.
    pub max_rel: f64,
    pub elements: usize,
    /// Elements outside `abs_tol + rel_tol·|b|`.
    pub outside_tolerance: usize,
}

/// Compares outputs `a` against reference `b` element by element.
pub fn compare(a: &[Value], b: &[Value], abs_tol: f64, rel_tol: f64) -> Result<Diff, VerifyError> {
    if a.len() != b.len() {
        return Err(VerifyError::Structure(format!(
            "{} outputs vs {}",
            a.len(),
            b.len()
        )));
    }
    let mut d = Diff {
        max_abs: 0.0,
        max_rel: 0.0,
        elements: 0,
        outside_tolerance: 0,
    };
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        if x.data.len() != y.data.len() {
            return Err(VerifyError::Structure(format!(
                "output {k} has {} elements vs {} (shapes {:?} and {:?})",
                x.data.len(),
                y.data.len(),
                x.shape,
                y.shape
            )));
        }
        for (p, q) in x.data.to_f64().into_iter().zip(y.data.to_f64()) {
            let abs = (p - q).abs();
            let abs = if abs.is_nan() { f64::INFINITY } else { abs };
            let denom = p.abs().max(q.abs());
            if denom > 0.0 {
                d.max_rel = d.max_rel.max(abs / denom);
            }
            d.max_abs = d.max_abs.max(abs);
            if abs > abs_tol + rel_tol * q.abs() {
                d.outside_tolerance += 1;
            }
            d.elements += 1;
        }
    }
    Ok(d)
}

/// Inputs for checks and benchmarks: the first `batch` MNIST test images when the
/// model takes one 784-pixel image per batch row and `mnist` is given, otherwise values
/// from a fixed-seed generator spread over the input's range.
pub fn sample_inputs(
    model: &crate::ir::Model,
    batch: usize,
    mnist: Option<&crate::data::Mnist>,
) -> Result<Vec<Value>, VerifyError> {
    use crate::interp::TensorBuf;
    use crate::ir::DType;
    let graph = &model.graph;
    let mut values = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for &t in &graph.inputs {
        let decl = &graph.tensors[t];
        if let (Some(m), true) = (mnist, graph.inputs.len() == 1) {
            let n = batch.min(m.count);
            let per = m.rows * m.cols;
            if let Ok(v) = accuracy::mnist_batch(decl, &m.images[..n * per], n) {
                values.push(v);
                continue;
            }
        }
        let mut shape = decl.shape.clone();
        if let Some(b) = shape.first_mut() {
            *b = batch;
        }
        let n: usize = shape.iter().product();
        let mut next = || {
            // xorshift64*: deterministic and dependency-free.
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let data = match decl.dtype {
            DType::F32 => TensorBuf::F32((0..n).map(|_| next() as f32).collect()),
            DType::I8 => TensorBuf::I8((0..n).map(|_| (next() * 255.0 - 128.0) as i8).collect()),
            DType::U8 => TensorBuf::U8((0..n).map(|_| (next() * 255.0) as u8).collect()),
            DType::I16 => {
                TensorBuf::I16((0..n).map(|_| (next() * 2000.0 - 1000.0) as i16).collect())
            }
            DType::I32 => TensorBuf::I32((0..n).map(|_| (next() * 10.0) as i32).collect()),
            other => {
                return Err(VerifyError::Input(format!(
                    "cannot make sample data for input '{}' of type {other}",
                    decl.name
                )))
            }
        };
        values.push(Value::new(shape, data));
    }
    Ok(values)
}

/// How tract was given the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TractSetup {
    /// "original file" or "lowered twin".
    pub model: String,
    /// Why the original file could not be used, when it could not.
    pub original_error: Option<String>,
    pub lowering: Option<lower::Lowering>,
    /// "OP #i: why" for each operator of what tract runs that it is known to compute
    /// wrongly ([`tract::known_fault`]); its outputs then prove nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tract_faults: Vec<String>,
}

/// Loads the model into tract for `shapes`: the original bytes if tract takes them,
/// else the lowered twin (plan-time work folded into constants).
#[cfg(feature = "tract")]
pub fn tract_for(
    bytes: &[u8],
    model: &crate::ir::Model,
    shapes: &[Vec<usize>],
) -> Result<(tract::TractRunner, TractSetup), VerifyError> {
    // tract resolves a RESHAPE's -1 against the input shape the file declares, at load
    // time, before the input facts are changed: a file declaring batch 1 then fails at
    // run time on batch 8. So when the shapes differ, tract gets the same file with only
    // the declared input shapes changed.
    let declared: Vec<&[usize]> = model
        .graph
        .inputs
        .iter()
        .filter_map(|&i| model.graph.tensors.get(i).map(|t| t.shape.as_slice()))
        .collect();
    let resized_bytes;
    let (bytes, label) = if declared.len() == shapes.len()
        && declared.iter().zip(shapes).any(|(d, s)| *d != s.as_slice())
    {
        let mut resized = model.clone();
        for (&i, shape) in model.graph.inputs.iter().zip(shapes) {
            if let Some(t) = resized.graph.tensors.get_mut(i) {
                t.shape = shape.clone();
            }
        }
        resized_bytes = crate::tflite::write(&resized)?;
        (
            resized_bytes.as_slice(),
            format!("original file, input shapes set to {shapes:?}"),
        )
    } else {
        (bytes, "original file".to_string())
    };
    let original_error = match tract::TractRunner::new(bytes, shapes) {
        Ok(r) => {
            return Ok((
                r,
                TractSetup {
                    model: label,
                    original_error: None,
                    lowering: None,
                    tract_faults: tract::known_faults(&model.graph),
                },
            ))
        }
        Err(VerifyError::Tract(m)) => m,
        Err(e) => e.to_string(),
    };
    let plan = crate::interp::Plan::new(model, shapes)?;
    let (twin, lowering) = lower::lower(model, &plan)?;
    for (i, op) in twin.graph.operators.iter().enumerate() {
        if tract::TRACT_LACKS.contains(&op.op.name()) {
            return Err(VerifyError::Tract(format!(
                "{} #{i}: tract-tflite has no {} op",
                op.op.name(),
                op.op.name()
            )));
        }
    }
    let twin_bytes = crate::tflite::write(&twin)?;
    let runner = tract::TractRunner::new(&twin_bytes, shapes).map_err(|e| {
        let twin = match e {
            VerifyError::Tract(m) => m,
            other => other.to_string(),
        };
        VerifyError::Tract(format!(
            "lowered twin: {twin}; original file: {original_error}"
        ))
    })?;
    Ok((
        runner,
        TractSetup {
            model: "lowered twin".into(),
            original_error: Some(original_error),
            lowering: Some(lowering),
            tract_faults: tract::known_faults(&twin.graph),
        },
    ))
}
