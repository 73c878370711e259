use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::Out;
use crate::nn::{io, presets};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["model", "preset"])))]
#[command(
    after_help = "Examples:\n  ferrolite summary models/cnn\n  ferrolite summary --preset mnist-convnet --json"
)]
pub struct Args {
    /// Model directory (model.json + model.safetensors).
    model: Option<PathBuf>,
    /// Show a named architecture instead.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(presets::NAMES))]
    preset: Option<String>,
    /// Print the layers and totals as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Show the model even when weights hold NaN or infinity (listed on stderr).
    #[arg(long)]
    allow_nonfinite: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let (model, training) = match (&a.model, &a.preset) {
        (_, Some(name)) => (
            presets::by_name(name, 0)
                .with_context(|| format!("unknown preset {name}"))?
                .with_context(|| format!("building preset {name}"))?,
            None,
        ),
        (Some(dir), None) => {
            let (m, meta) = io::load_with_metadata(dir)?;
            (m, meta.training)
        }
        (None, None) => anyhow::bail!("pass a model directory or --preset NAME"),
    };
    let nonfinite = model.nonfinite_weights();
    if !nonfinite.is_empty() {
        let list = crate::ir::NonFinite::list(&nonfinite);
        if !a.allow_nonfinite {
            anyhow::bail!(
                "{}: weights hold NaN or infinity: {list} (pass --allow-nonfinite to show the model anyway)",
                a.model.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        eprintln!("warning: weights hold NaN or infinity: {list}");
    }
    for line in model.summary().lines() {
        out.line(line);
    }
    if let Some(t) = &training {
        let last = t.history.last();
        out.line(format!(
            "Trained: {} epochs, {} lr {}, batch {}, {} images{}{}",
            t.history.len(),
            t.optimizer,
            t.learning_rate,
            t.batch_size,
            t.train_samples,
            last.map(|e| format!(", final loss {:.4} acc {:.4}", e.loss, e.accuracy))
                .unwrap_or_default(),
            t.test_accuracy
                .map(|a| format!(", test accuracy {:.2}%", a * 100.0))
                .unwrap_or_default()
        ));
    }
    if a.json {
        let layers: Vec<serde_json::Value> = model
            .layers()
            .iter()
            .map(|l| {
                let (t, n) = l.param_count();
                serde_json::json!({
                    "name": l.name(),
                    "class_name": l.spec().class_name(),
                    "output_shape": l.output_shape(),
                    "params": t + n,
                })
            })
            .collect();
        let (t, n) = model.param_count();
        out.json(&serde_json::json!({
            "name": model.name(),
            "input_shape": model.input_shape(),
            "layers": layers,
            "total_params": t + n,
            "trainable_params": t,
            "non_trainable_params": n,
        }));
    }
    Ok(0)
}
