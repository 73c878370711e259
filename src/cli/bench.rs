use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{load_runnable, Out};
use crate::data::{self, Split};
use crate::interp::Interpreter;
use crate::verify::timing::{median_micros, paired_median_micros};

#[derive(clap::Args)]
#[command(
    after_help = "The global --threads splits each batch over that many threads (one plan \
and arena per thread); its default is every core, and a batch of one runs on one thread.\n\n\
Examples:\n  ferrolite bench cnn_int8.tflite\n  ferrolite bench cnn_int8.tflite --against cnn.tflite --seconds 4\n  ferrolite bench cnn.tflite --batch-size 32 --profile --no-tract --json\n  \
ferrolite --threads 2 bench cnn.tflite --batch-size 64 --against-threads 1 --no-tract"
)]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Batch size of each inference call.
    #[arg(long, default_value_t = 1, alias = "batch")]
    batch_size: usize,
    /// Seconds of timing per runtime (split into rounds; medians count). Comparisons
    /// (tract, --against) alternate rounds of the two and take the median per-round ratio.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// A second model (e.g. the float model an int8 one replaces) timed in the same run
    /// with the same images, its rounds alternated with the first model's so both see
    /// the same machine; prints how many times faster the first model is.
    #[arg(long, value_name = "MODEL")]
    against: Option<PathBuf>,
    /// Time the same model again on this many threads (e.g. 1), rounds alternated with
    /// the --threads run, and print the throughput ratio of the two.
    #[arg(long, value_name = "T", conflicts_with = "against")]
    against_threads: Option<usize>,
    /// Do not time tract (its loading and its alternated rounds take time).
    #[arg(long)]
    no_tract: bool,
    /// Also print the time spent in each operator of the built-in interpreter.
    #[arg(long)]
    profile: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, threads: usize) -> Result<i32> {
    let out = Out::new(a.json);
    if a.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if a.against_threads == Some(0) {
        anyhow::bail!("--against-threads must be at least 1");
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        anyhow::bail!("--seconds must be a positive number");
    }
    let (model, bytes) = load_runnable(&a.model)?;
    let mnist = data::load(&data::default_dir(), Split::Test).ok();
    let inputs = crate::verify::sample_inputs(&model, a.batch_size, mnist.as_ref())?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    // --seconds is the whole timing budget: shared between our own timing and the paired
    // rounds with tract, rather than spent again by each (which made 2 s take 7).
    let phases = if a.no_tract || !cfg!(feature = "tract") {
        1
    } else {
        2
    };
    let budget = Duration::from_secs_f64(a.seconds) / phases;

    let mut interp = Interpreter::new(model.clone()).context("planning the model")?;
    interp.resize(&shapes)?;
    interp.set_threads(threads)?;
    let arena = interp.plan().arena_bytes();
    let in_use = interp.threads_in_use();
    // The timed calls run into outputs made once, so no allocation is timed.
    let mut outputs = interp.new_outputs();
    let mut against = None;
    let mut against_threads = None;
    let ours = match (&a.against, a.against_threads) {
        (None, None) => median_micros(|| interp.run_into(&inputs, &mut outputs), budget, 7)
            .context("running the built-in interpreter")?,
        (Some(path), _) => {
            let (other, _) = load_runnable(path)?;
            let other_inputs = crate::verify::sample_inputs(&other, a.batch_size, mnist.as_ref())?;
            let mut other_interp =
                Interpreter::new(other).with_context(|| format!("planning {}", path.display()))?;
            let other_shapes: Vec<Vec<usize>> =
                other_inputs.iter().map(|v| v.shape.clone()).collect();
            other_interp.resize(&other_shapes)?;
            other_interp.set_threads(threads)?;
            let mut other_outputs = other_interp.new_outputs();
            let (ours, theirs, ratio) = paired_median_micros(
                || interp.run_into(&inputs, &mut outputs),
                || other_interp.run_into(&other_inputs, &mut other_outputs),
                budget,
                15,
            )
            .context("running the built-in interpreter")?;
            against = Some((path.display().to_string(), theirs, ratio));
            ours
        }
        (None, Some(t)) => {
            let mut other_interp = Interpreter::new(model.clone()).context("planning the model")?;
            other_interp.resize(&shapes)?;
            other_interp.set_threads(t)?;
            let mut other_outputs = other_interp.new_outputs();
            let (ours, theirs, ratio) = paired_median_micros(
                || interp.run_into(&inputs, &mut outputs),
                || other_interp.run_into(&inputs, &mut other_outputs),
                budget,
                15,
            )
            .context("running the built-in interpreter")?;
            against_threads = Some((other_interp.threads_in_use(), theirs, ratio));
            ours
        }
    };
    out.line(format!(
        "ferrolite: {ours:.2} µs per batch of {} ({:.2} µs per image) on {in_use} thread{}, \
         arena {arena} bytes",
        a.batch_size,
        ours / a.batch_size as f64,
        if in_use == 1 { "" } else { "s" }
    ));
    if let Some((t, theirs, ratio)) = &against_threads {
        out.line(format!(
            "against {t} thread{} (rounds alternated): {theirs:.2} µs per batch; {in_use} \
             thread{} give {:.2}× its throughput (median of per-round ratios)",
            if *t == 1 { "" } else { "s" },
            if in_use == 1 { "" } else { "s" },
            1.0 / ratio
        ));
    }
    if let Some((path, theirs, ratio)) = &against {
        out.line(format!(
            "against {path} (built-in interpreter, rounds alternated): {theirs:.2} µs per batch; \
             {} is {:.2}× {} (median of per-round ratios)",
            a.model.display(),
            if *ratio <= 1.0 { 1.0 / ratio } else { *ratio },
            if *ratio <= 1.0 { "faster" } else { "SLOWER" }
        ));
    }

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

    let (tract, tract_model, tract_error) = if a.no_tract {
        (None, None, None)
    } else {
        time_tract(&bytes, &model, &shapes, &mut interp, &inputs, budget)
    };
    let tract_us = tract.map(|(t, _)| t);
    let speedup_vs_tract = tract.map(|(_, ratio)| 1.0 / ratio);
    match (tract, &tract_error) {
        (Some((t, ratio)), _) => out.line(format!(
            "tract ({}): {t:.2} µs per batch ({:.2} µs per image); ferrolite is {:.2}× {} \
             (median of per-round ratios, rounds alternated)",
            tract_model.as_deref().unwrap_or("?"),
            t / a.batch_size as f64,
            if ratio <= 1.0 { 1.0 / ratio } else { ratio },
            if ratio <= 1.0 { "faster" } else { "SLOWER" }
        )),
        (None, Some(e)) => out.line(format!("tract: not measured ({e})")),
        (None, None) => {}
    }
    if a.json {
        out.json(&serde_json::json!({
            "model": a.model.display().to_string(),
            "batch": a.batch_size,
            "ferrolite_us": ours,
            "ferrolite_us_per_image": ours / a.batch_size as f64,
            "threads": in_use,
            "arena_bytes": arena,
            "tract_us": tract_us,
            "tract_model": tract_model,
            "tract_error": tract_error,
            "speedup_vs_tract": speedup_vs_tract,
            "against": match (&against, &against_threads) {
                (Some((path, us, ratio)), _) => serde_json::json!({
                    "model": path,
                    "ferrolite_us": us,
                    "time_ratio": ratio,
                    "speedup": 1.0 / ratio,
                }),
                (None, Some((t, us, ratio))) => serde_json::json!({
                    "threads": t,
                    "ferrolite_us": us,
                    "ferrolite_us_per_image": us / a.batch_size as f64,
                    "time_ratio": ratio,
                    "speedup": 1.0 / ratio,
                }),
                (None, None) => serde_json::Value::Null,
            },
        }));
    }
    Ok(0)
}

/// tract's µs per batch and the median per-round ratio ferrolite / tract, timed in
/// alternated rounds with the built-in interpreter.
type TractTiming = (Option<(f64, f64)>, Option<String>, Option<String>);

#[cfg(feature = "tract")]
fn time_tract(
    bytes: &[u8],
    model: &crate::ir::Model,
    shapes: &[Vec<usize>],
    interp: &mut Interpreter,
    inputs: &[crate::interp::Value],
    budget: Duration,
) -> TractTiming {
    match crate::verify::tract_for(bytes, model, shapes) {
        Ok((mut runner, setup)) => {
            match paired_median_micros(
                || interp.run(inputs).map(|_| ()).map_err(|e| e.to_string()),
                || runner.run(inputs).map(|_| ()).map_err(|e| e.to_string()),
                budget,
                15,
            ) {
                Ok((_, t, ratio)) => (Some((t, ratio)), Some(setup.model), None),
                Err(e) => (None, Some(setup.model), Some(e)),
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
    _interp: &mut Interpreter,
    _inputs: &[crate::interp::Value],
    _budget: Duration,
) -> TractTiming {
    (None, None, Some("built without the `tract` feature".into()))
}
