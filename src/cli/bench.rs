use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{load_runnable, Out};
use crate::data::{self, Split};
use crate::interp::Interpreter;
use crate::verify::timing::median_micros;

#[derive(clap::Args)]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Batch size of each inference call.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Seconds of timing per runtime (split into 7 rounds; the median round counts).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Also print the time spent in each operator of the built-in interpreter.
    #[arg(long)]
    profile: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    if a.batch == 0 {
        anyhow::bail!("--batch must be at least 1");
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let (model, bytes) = load_runnable(&a.model)?;
    let mnist = data::load(&data::default_dir(), Split::Test).ok();
    let inputs = crate::verify::sample_inputs(&model, a.batch, mnist.as_ref())?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    let budget = Duration::from_secs_f64(a.seconds);

    let mut interp = Interpreter::new(model.clone()).context("planning the model")?;
    interp.resize(&shapes)?;
    let arena = interp.plan().arena_bytes();
    let ours = median_micros(|| interp.run(&inputs).map(|_| ()), budget, 7)
        .context("running the built-in interpreter")?;
    out.line(format!(
        "ferrolite: {ours:.2} µs per batch of {} ({:.2} µs per image), arena {arena} bytes",
        a.batch,
        ours / a.batch as f64
    ));

    if a.profile {
        let ops = interp.plan().step_operators();
        let mut seconds = vec![0.0; ops.len()];
        let runs = ((a.seconds * 1e6 / ours.max(1.0)) as usize).clamp(10, 1_000_000);
        for _ in 0..runs {
            interp.plan_mut().run_timed(&inputs, &mut seconds)?;
        }
        for (op, s) in ops.iter().zip(&seconds) {
            let name = model.graph.operators[*op].op.name();
            out.line(format!(
                "  #{op:<3} {name:<18} {:>9.2} µs",
                s * 1e6 / runs as f64
            ));
        }
    }

    let (tract_us, tract_model, tract_error) = time_tract(&bytes, &model, &shapes, &inputs, budget);
    match (tract_us, &tract_error) {
        (Some(t), _) => out.line(format!(
            "tract ({}): {t:.2} µs per batch ({:.2} µs per image); ferrolite is {:.2}× {}",
            tract_model.as_deref().unwrap_or("?"),
            t / a.batch as f64,
            if ours <= t { t / ours } else { ours / t },
            if ours <= t { "faster" } else { "SLOWER" }
        )),
        (None, Some(e)) => out.line(format!("tract: not measured ({e})")),
        (None, None) => {}
    }
    if a.json {
        out.json(&serde_json::json!({
            "model": a.model.display().to_string(),
            "batch": a.batch,
            "ferrolite_us": ours,
            "ferrolite_us_per_image": ours / a.batch as f64,
            "arena_bytes": arena,
            "tract_us": tract_us,
            "tract_model": tract_model,
            "tract_error": tract_error,
            "speedup_vs_tract": tract_us.map(|t| t / ours),
        }));
    }
    Ok(0)
}

#[cfg(feature = "tract")]
fn time_tract(
    bytes: &[u8],
    model: &crate::ir::Model,
    shapes: &[Vec<usize>],
    inputs: &[crate::interp::Value],
    budget: Duration,
) -> (Option<f64>, Option<String>, Option<String>) {
    match crate::verify::tract_for(bytes, model, shapes) {
        Ok((mut runner, setup)) => {
            match median_micros(|| runner.run(inputs).map(|_| ()), budget, 7) {
                Ok(t) => (Some(t), Some(setup.model), None),
                Err(e) => (None, Some(setup.model), Some(e.to_string())),
            }
        }
        Err(e) => (None, None, Some(e.to_string())),
    }
}

#[cfg(not(feature = "tract"))]
fn time_tract(
    _bytes: &[u8],
    _model: &crate::ir::Model,
    _shapes: &[Vec<usize>],
    _inputs: &[crate::interp::Value],
    _budget: Duration,
) -> (Option<f64>, Option<String>, Option<String>) {
    (None, None, Some("built without the `tract` feature".into()))
}
