use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{load_runnable, Out};
use crate::data::{self, npy, Split};
use crate::interp::Interpreter;

#[derive(clap::Args)]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Input array (.npy) in the model's input dtype [default: the first 8 MNIST test
    /// images when the model takes MNIST images, else fixed-seed random values].
    #[arg(long, short)]
    input: Option<PathBuf>,
    /// Allowed absolute difference per element.
    #[arg(long, default_value_t = 1e-4)]
    abs_tol: f64,
    /// Allowed difference relative to tract's value.
    #[arg(long, default_value_t = 1e-4)]
    rel_tol: f64,
    /// For integer outputs: allowed difference in quantized steps (replaces the float
    /// tolerances). tract requantizes with its own rounding, not TFLite's double
    /// rounding, so an output can land one step away even when both are right.
    #[arg(long, default_value_t = 1)]
    step_tol: u32,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let (model, bytes) = load_runnable(&a.model)?;
    let inputs = match &a.input {
        Some(p) => vec![npy::read(p)?],
        None => {
            let mnist = data::load(&data::default_dir(), Split::Test).ok();
            crate::verify::sample_inputs(&model, 8, mnist.as_ref())?
        }
    };
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    let mut interp = Interpreter::new(model.clone()).context("planning the model")?;
    let ours = interp
        .run(&inputs)
        .context("running the built-in interpreter")?;
    check_tract(&a, &out, &bytes, &model, &shapes, &inputs, &ours)
}

#[cfg(feature = "tract")]
fn check_tract(
    a: &Args,
    out: &Out,
    bytes: &[u8],
    model: &crate::ir::Model,
    shapes: &[Vec<usize>],
    inputs: &[crate::interp::Value],
    ours: &[crate::interp::Value],
) -> Result<i32> {
    let (mut runner, setup) = crate::verify::tract_for(bytes, model, shapes)?;
    if let Some(why) = &setup.original_error {
        out.line(format!("tract cannot run the original file ({why})"));
    }
    if let Some(l) = &setup.lowering {
        out.line(format!(
            "checking a lowered twin instead: folded {} into constants{}",
            if l.folded.is_empty() {
                "nothing".to_string()
            } else {
                l.folded.join(", ")
            },
            if l.densified.is_empty() {
                String::new()
            } else {
                format!(", stored {} dense", l.densified.join(", "))
            }
        ));
        for r in &l.rewritten {
            out.line(format!("  rewrote {r} (tract's form, same integers)"));
        }
    }
    let theirs = runner.run(inputs)?;
    // Integer outputs differ in whole quantized steps; say so rather than as a float.
    let integer = ours.iter().all(|v| {
        !matches!(
            v.data,
            crate::interp::TensorBuf::F32(_) | crate::interp::TensorBuf::F16(_)
        )
    });
    let (abs_tol, rel_tol) = if integer {
        (f64::from(a.step_tol), 0.0)
    } else {
        (a.abs_tol, a.rel_tol)
    };
    let diff = crate::verify::compare(ours, &theirs, abs_tol, rel_tol)?;
    let agree = diff.outside_tolerance == 0;
    if integer {
        out.line(format!(
            "integer outputs: max difference {} quantized step(s){}",
            diff.max_abs,
            if diff.max_abs == 0.0 {
                " (identical on these inputs)"
            } else {
                ""
            }
        ));
    }
    out.line(format!(
        "ferrolite vs tract ({}): max abs diff {:.3e}, max rel diff {:.3e} over {} elements: {}",
        setup.model,
        diff.max_abs,
        diff.max_rel,
        diff.elements,
        if agree && integer {
            format!("agree within {} quantized step(s)", a.step_tol)
        } else if agree {
            format!("agree within {:e} + {:e}·|x|", a.abs_tol, a.rel_tol)
        } else {
            format!("{} elements outside tolerance", diff.outside_tolerance)
        }
    ));
    if a.json {
        out.json(&serde_json::json!({
            "agree": agree,
            "max_abs_diff": diff.max_abs,
            "max_rel_diff": diff.max_rel,
            "elements": diff.elements,
            "outside_tolerance": diff.outside_tolerance,
            "max_quantized_steps": integer.then_some(diff.max_abs),
            "abs_tol": abs_tol,
            "rel_tol": rel_tol,
            "tract_model": setup.model,
            "tract_original_error": setup.original_error,
            "lowering": setup.lowering,
        }));
    }
    if agree {
        Ok(0)
    } else {
        eprintln!("error: ferrolite and tract disagree beyond the tolerance");
        Ok(1)
    }
}

#[cfg(not(feature = "tract"))]
fn check_tract(
    _a: &Args,
    _out: &Out,
    _bytes: &[u8],
    _model: &crate::ir::Model,
    _shapes: &[Vec<usize>],
    _inputs: &[crate::interp::Value],
    _ours: &[crate::interp::Value],
) -> Result<i32> {
    anyhow::bail!("this ferrolite was built without the `tract` feature; rebuild with default features to verify")
}
