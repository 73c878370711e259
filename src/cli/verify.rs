use std::path::PathBuf;

use anyhow::Result;

use super::{load_runnable, Out};
use crate::data::{self, npy};

/// Exit codes of `verify`, beyond 0 (agree), 1 (error) and 2 (bad arguments).
pub const EXIT_DISAGREE: i32 = 3;
pub const EXIT_INCOMPLETE: i32 = 4;

#[derive(clap::Args)]
#[command(after_help = "\
Exit status: 0 the runtimes agree; 3 they disagree (the first operator whose output \
differs is named, with both values); 4 no difference found but some operators could \
not be checked (they are named); 1 the model could not be read or run; 2 bad arguments.

Examples:
  ferrolite verify model_int8.tflite
  ferrolite verify model_dynamic.tflite --json
  ferrolite verify model.tflite --each-op --input batch.npy")]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Input array (.npy) in the model's input dtype, once per model input in the
    /// model's order [default: the first 8 MNIST test images when the model takes MNIST
    /// images, else fixed-seed random values].
    #[arg(long, short)]
    input: Vec<PathBuf>,
    /// Allowed absolute difference per float element.
    #[arg(long, default_value_t = 1e-4)]
    abs_tol: f64,
    /// Allowed float difference relative to the other runtime's value.
    #[arg(long, default_value_t = 1e-4)]
    rel_tol: f64,
    /// For int8/uint8/int16 outputs: allowed difference in quantized steps. tract
    /// requantizes with its own rounding, not TFLite's double rounding, so an output
    /// can land one step away even when both are right.
    #[arg(long, default_value_t = 1)]
    step_tol: u32,
    /// Check every operator on its own (on ferrolite's inputs to it) and list them all,
    /// even when the whole model agrees.
    #[arg(long)]
    each_op: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let (model, bytes) = load_runnable(&a.model)?;
    let inputs = if a.input.is_empty() {
        let mnist = data::load(&data::default_dir(), data::Split::Test).ok();
        crate::verify::sample_inputs(&model, sample_batch(&model), mnist.as_ref())?
    } else {
        if a.input.len() != model.graph.inputs.len() {
            anyhow::bail!(
                "the model has {} input(s) and {} --input file(s) were given",
                model.graph.inputs.len(),
                a.input.len()
            );
        }
        a.input
            .iter()
            .map(|p| npy::read(p))
            .collect::<Result<Vec<_>, _>>()?
    };
    check(&a, &out, &model, &bytes, &inputs)
}

/// Batch rows of the default inputs: 8 when every input's batch may be resized (the
/// signature says -1), else the declared batch, which a file with a fixed batch
/// (a RESHAPE to a constant shape) needs.
fn sample_batch(model: &crate::ir::Model) -> usize {
    let g = &model.graph;
    let declared = g
        .inputs
        .first()
        .and_then(|&t| g.tensors[t].shape.first().copied())
        .unwrap_or(1);
    if g.inputs.iter().all(|&t| g.tensors[t].has_dynamic_batch()) {
        8
    } else {
        declared.max(1)
    }
}

#[cfg(feature = "tract")]
fn check(
    a: &Args,
    out: &Out,
    model: &crate::ir::Model,
    bytes: &[u8],
    inputs: &[crate::interp::Value],
) -> Result<i32> {
    use crate::verify::crosscheck::{self, OpStatus, Tolerance, Verdict};
    let tol = Tolerance {
        abs: a.abs_tol,
        rel: a.rel_tol,
        steps: f64::from(a.step_tol),
    };
    let report = crosscheck::cross_check(model, bytes, inputs, &tol, a.each_op)?;
    match (&report.whole, &report.whole_error) {
        (Some(w), _) => {
            if let Some(why) = &w.setup.original_error {
                out.line(format!("tract cannot run the file as written ({why})"));
            }
            if let Some(l) = &w.setup.lowering {
                out.line(format!("tract ran a lowered twin: {}", lowering_text(l)));
            }
            let c = &w.comparison;
            let unit = if w.integer { " quantized steps" } else { "" };
            out.line(format!(
                "whole model, ferrolite vs tract ({}): max abs diff {}{unit}, max rel diff {:.3e} over {} elements: {}",
                w.setup.model,
                number(c.max_abs),
                c.max_rel,
                c.elements,
                if !w.setup.tract_faults.is_empty() {
                    format!("not a verdict (tract computes {} wrongly)", w.setup.tract_faults.iter().map(|f| f.split(':').next().unwrap_or("")).collect::<Vec<_>>().join(", "))
                } else if !w.exact {
                    "not a verdict (the float twin skips the hybrid input rounding, whose error compounds through later layers)".to_string()
                } else if w.agree {
                    "agree".to_string()
                } else {
                    format!("{} elements outside the tolerance", c.outside_tolerance)
                }
            ));
        }
        (None, Some(why)) => out.line(format!("tract cannot run the whole model ({why})")),
        (None, None) => {}
    }
    if !report.ops.is_empty() {
        out.line("operator by operator, each on ferrolite's own inputs to it:");
    }
    for o in &report.ops {
        let label = format!("#{:<3} {:<18}", o.operator, o.op);
        match (&o.comparison, o.checked_by) {
            (Some(c), Some(by)) => out.line(format!(
                "  {label} {:<22} {} max diff {} (allowed {})",
                by.name(),
                if o.status == OpStatus::Disagree {
                    format!(
                        "DIFFERS in {} of {} elements,",
                        c.outside_tolerance, c.elements
                    )
                } else {
                    "agrees,".to_string()
                },
                number(c.max_abs),
                o.tolerance.as_deref().unwrap_or("?"),
            )),
            _ => out.line(format!(
                "  {label} not checked: {}",
                o.reason.as_deref().unwrap_or("?")
            )),
        }
    }
    let checked = report
        .ops
        .iter()
        .filter(|o| o.status != OpStatus::NotChecked)
        .count();
    let (code, verdict) = match report.verdict {
        Verdict::Agree => (
            0,
            if report.ops.is_empty() {
                "verdict: agree (whole model)".to_string()
            } else {
                format!(
                    "verdict: agree ({checked} of {} operators checked, all within tolerance)",
                    report.ops.len()
                )
            },
        ),
        Verdict::Disagree => {
            let first = report.first_difference();
            let text = match first.and_then(|o| o.comparison.as_ref().map(|c| (o, c))) {
                Some((o, c)) => {
                    let w = c.worst.as_ref();
                    format!(
                        "ferrolite and {} disagree first at {} #{}: '{}'{} ferrolite {} vs {} {} (allowed {})",
                        o.checked_by.map_or("the checker", |b| b.name()),
                        o.op,
                        o.operator,
                        w.map_or("", |w| w.tensor.as_str()),
                        w.map_or(String::new(), |w| format!(" at {:?}", w.index)),
                        w.map_or("?".into(), |w| number(w.ferrolite)),
                        o.checked_by.map_or("other", |b| b.name()),
                        w.map_or("?".into(), |w| number(w.other)),
                        w.map_or("?".into(), |w| number(w.allowed)),
                    )
                }
                None => "ferrolite and tract disagree".to_string(),
            };
            (EXIT_DISAGREE, text)
        }
        Verdict::Incomplete => {
            let names: Vec<String> = report
                .unchecked()
                .map(|o| format!("{} #{}", o.op, o.operator))
                .collect();
            (
                EXIT_INCOMPLETE,
                format!(
                    "incomplete: {checked} operators agree, {} could not be checked: {}",
                    names.len(),
                    names.join(", ")
                ),
            )
        }
    };
    if code == 0 {
        out.line(&verdict);
    }
    if a.json {
        let whole = report.whole.as_ref();
        let c = whole.map(|w| &w.comparison);
        out.json(&serde_json::json!({
            "verdict": report.verdict,
            "agree": report.verdict == Verdict::Agree,
            "max_abs_diff": c.map(|c| c.max_abs),
            "max_rel_diff": c.map(|c| c.max_rel),
            "elements": c.map(|c| c.elements),
            "outside_tolerance": c.map(|c| c.outside_tolerance),
            "max_quantized_steps": whole.filter(|w| w.integer).map(|w| w.comparison.max_abs),
            "abs_tol": a.abs_tol,
            "rel_tol": a.rel_tol,
            "step_tol": a.step_tol,
            "tract_model": whole.map(|w| &w.setup.model),
            "tract_original_error": whole.and_then(|w| w.setup.original_error.as_ref()),
            "tract_error": &report.whole_error,
            "lowering": whole.and_then(|w| w.setup.lowering.as_ref()),
            "whole_model_exact": whole.map(|w| w.exact),
            "first_difference": report.first_difference(),
            "not_checked": report.unchecked().collect::<Vec<_>>(),
            "ops": &report.ops,
        }));
    }
    if code != 0 {
        eprintln!("error: {verdict}");
    }
    Ok(code)
}

/// A difference or value for people: whole numbers as such (quantized values and
/// steps), others to four significant digits.
fn number(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e9 {
        format!("{x}")
    } else {
        super::significant(x)
    }
}

#[cfg(feature = "tract")]
fn lowering_text(l: &crate::verify::lower::Lowering) -> String {
    let mut parts = Vec::new();
    if !l.folded.is_empty() {
        parts.push(format!("folded {} into constants", l.folded.join(", ")));
    }
    if !l.densified.is_empty() {
        parts.push(format!("stored {} dense", l.densified.join(", ")));
    }
    for r in &l.rewritten {
        parts.push(format!("rewrote {r} (same integers)"));
    }
    if !l.dequantized.is_empty() {
        parts.push(format!(
            "gave {} float32 weights (tract has no hybrid kernels)",
            l.dequantized.join(", ")
        ));
    }
    if parts.is_empty() {
        "nothing to change".to_string()
    } else {
        parts.join("; ")
    }
}

#[cfg(not(feature = "tract"))]
fn check(
    _a: &Args,
    _out: &Out,
    _model: &crate::ir::Model,
    _bytes: &[u8],
    _inputs: &[crate::interp::Value],
) -> Result<i32> {
    anyhow::bail!("this ferrolite was built without the `tract` feature; rebuild with default features to verify")
}
