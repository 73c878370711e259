//! `ferrolite experiment`: the whole compression study in one command.
use std::path::PathBuf;

use anyhow::Result;

use super::{default_data_dir, Out};
use crate::experiment::{self, Config, Observer, Settings};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  ferrolite experiment                      # the full study, ~15 min on 2 cores
  ferrolite experiment --quick -o /tmp/smoke  # every stage on a subset, < 2 min
  ferrolite experiment --force              # replace a previous experiment-out/")]
#[command(
    after_help = "Examples:\n  ferrolite experiment\n  ferrolite experiment --quick -o /tmp/study --force"
)]
pub struct Args {
    /// Directory for the report, charts, models and .tflite files.
    #[arg(short, long, alias = "out", default_value = "experiment-out")]
    output: PathBuf,
    /// Every stage on 3,000 training images with one epoch each: a smoke test of the
    /// whole pipeline, not the study's numbers.
    #[arg(long)]
    quick: bool,
    /// Seeds the models of parts 1 and 2 (part 3 runs its own seeds 1, 2, 3).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// MNIST directory with the train-* and t10k-* IDX files [default: the vendored copy].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Replace a previous experiment report in the output directory.
    #[arg(long)]
    force: bool,
    /// Print report.json's content on stdout when done.
    #[arg(long)]
    json: bool,
}

/// Prints a line per stage with its time, and a training bar while a model trains.
struct Lines<'a> {
    out: &'a Out,
    bar: Option<indicatif::ProgressBar>,
}

impl Observer for Lines<'_> {
    fn stage_started(&mut self, what: &str) {
        self.out.line(format!("{what} …"));
    }

    fn stage_finished(&mut self, what: &str, seconds: f64, result: &str) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.out.line(format!("{what}: {result} ({seconds:.1} s)"));
    }

    fn batch(&mut self, p: &crate::nn::BatchProgress) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = super::progress_bar(p.batches as u64, "");
            bar.set_prefix(format!("epoch {}/{}", p.epoch + 1, p.epochs));
            bar
        });
        if p.batch.is_multiple_of(16) || p.batch == p.batches {
            bar.set_message(format!(
                "epoch {}/{} loss {:.4} acc {:.4}",
                p.epoch + 1,
                p.epochs,
                p.loss,
                p.accuracy
            ));
        }
        bar.set_position(p.batch as u64);
    }

    fn epoch(&mut self, _summary: &crate::nn::EpochSummary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let settings = if a.quick {
        Settings::quick()
    } else {
        Settings::full()
    };
    let config = Config {
        output: a.output.clone(),
        data_dir: default_data_dir(a.data),
        seed: a.seed,
        quick: a.quick,
        force: a.force,
        settings,
    };
    let mut lines = Lines {
        out: &out,
        bar: None,
    };
    let report = experiment::run(&config, &mut lines)?;
    let p = &report.ptq;
    let q = &report.pruning;
    let d = &report.distillation;
    out.line(format!(
        "part 1: float {:.2}%, int8 {:.2}% ({} → {} bytes)",
        p.float_accuracy * 100.0,
        p.int8_accuracy * 100.0,
        p.float_bytes,
        p.int8_bytes
    ));
    out.line(format!(
        "part 2: baseline {:.2}%, pruned {:.2}%, pruned + int8 {:.2}%; {} → {} bytes ({:.1}× smaller, {:.1}× zipped)",
        q.baseline_accuracy * 100.0,
        q.pruned_accuracy * 100.0,
        q.pruned_int8_accuracy * 100.0,
        q.baseline_bytes,
        q.pruned_int8_bytes,
        q.size_ratio,
        q.zip_size_ratio
    ));
    out.line(format!(
        "part 3: teacher {:.2}%, distilled {:.2}% ± {:.2}, scratch {:.2}% ± {:.2} over {} seeds",
        d.teacher_accuracy * 100.0,
        d.distilled_mean * 100.0,
        d.distilled_std * 100.0,
        d.scratch_mean * 100.0,
        d.scratch_std * 100.0,
        d.seeds.len()
    ));
    out.line(format!(
        "report: {} (and report.json, charts/) in {:.0} s",
        config.output.join("report.md").display(),
        report.seconds
    ));
    if a.json {
        // Through the text form, so f32 settings print as typed (0.1, not 0.10000000149),
        // as report.json has them.
        out.json(&serde_json::from_str(&serde_json::to_string(&report)?)?);
    }
    Ok(0)
}
