//! The command line: argument parsing and printing only; the work is in the library.
//!
//! Conventions (design.md): `--json` prints one JSON object as the last line of stdout
//! and sends human output and progress to stderr; failures print one line on stderr and
//! exit non-zero.

mod bench;
mod compare;
mod convert;
mod distill;
mod eval;
mod evaluate;
mod experiment;
mod inspect;
mod prune;
mod run;
mod summary;
mod train;
mod verify;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrolite",
    version,
    about = "Train, run, inspect, verify and convert TensorFlow Lite models, without TensorFlow",
    long_about = "ferrolite reads and writes genuine .tflite files and runs them with its own \
interpreter, cross-checked against tract and LiteRT.\n\nStart with `ferrolite inspect MODEL.tflite` \
or `ferrolite eval MODEL.tflite` (MNIST accuracy on the vendored test set); train a model with \
`ferrolite train --preset mnist-cnn -o DIR` and export it with `ferrolite convert DIR -o MODEL.tflite`."
)]
struct Cli {
    /// Worker threads: for training, pruning and distillation, and for the interpreter
    /// in `run`, `eval` and `bench`, which splits a batch over them (each thread runs
    /// its own slice of the batch; results are identical to one thread's) [default: one
    /// per core; a batch of one image always runs on one thread].
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's operators, tensors (dtype, shape, quantization, sparsity), constant
    /// bytes, interpreter arena bytes and file size.
    Inspect(inspect::Args),
    /// Run one batch through the built-in interpreter: .npy/.npz in (float input for a
    /// quantized model is quantized), every output out as .npy/.npz.
    Run(run::Args),
    /// Top-1 accuracy on the MNIST test set (the vendored copy by default) of a .tflite
    /// model or a model directory (alias: evaluate).
    #[command(alias = "evaluate")]
    Eval(eval::Args),
    /// Check the built-in interpreter against tract (whole model, then operator by
    /// operator) and formulas; always answers: agree, disagree (first differing op
    /// named) or incomplete (unchecked ops named).
    Verify(verify::Args),
    /// Write a model directory (exported to a float graph) or a .tflite model as .tflite
    /// (atomically; never over the input).
    Convert(convert::Args),
    /// Time inference in the built-in interpreter and, in the same run, in tract.
    Bench(bench::Args),
    /// Several models in one table: bytes, zipped bytes, MNIST accuracy, agreement with
    /// the first, µs per inference.
    Compare(compare::Args),
    /// Train a model on MNIST and save it as a model directory (model.json +
    /// model.safetensors).
    Train(train::Args),
    /// Fine-tune a model directory while pruning its Conv2D/Dense kernels by magnitude
    /// (TFMOT schedules, optional Dense blocks); writes a model directory with exact zeros.
    Prune(prune::Args),
    /// Train a student against a frozen teacher (knowledge distillation) and save it as a
    /// model directory.
    Distill(distill::Args),
    /// A Keras-style table of a model's layers, output shapes and weight counts.
    Summary(summary::Args),
    /// The whole compression study (int8, pruning + int8, distillation) in one run:
    /// models, .tflite files, report.md, report.json and SVG charts.
    Experiment(experiment::Args),
}

/// Entry point used by `main`: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return argument_error(&e),
    };
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            return 2;
        }
        // The global pool is built once, before any parallel work.
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
        {
            eprintln!("error: cannot set --threads: {e}");
            return 1;
        }
    }
    let result = match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Run(a) => run::run(a, inference_threads(cli.threads)),
        Command::Eval(a) => eval::run(a, inference_threads(cli.threads)),
        Command::Verify(a) => verify::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Bench(a) => bench::run(a, inference_threads(cli.threads)),
        Command::Compare(a) => compare::run(a),
        Command::Train(a) => train::run(a),
        Command::Prune(a) => prune::run(a),
        Command::Distill(a) => distill::run(a),
        Command::Summary(a) => summary::run(a),
        Command::Experiment(a) => experiment::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            1
        }
    }
}

/// Threads the interpreter may split a batch over: `--threads`, else every core.
fn inference_threads(asked: Option<usize>) -> usize {
    asked.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Help and version go out as clap writes them; an argument error becomes one line
/// (clap's message with its tip) and the usage line, exit status 2.
fn argument_error(e: &clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
    }
    let text = e.render().to_string();
    let mut message = String::new();
    let mut usage = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(u) = line.strip_prefix("Usage:") {
            usage = Some(u.trim().to_string());
        } else if line.starts_with("For more information") {
            continue;
        } else if message.is_empty() {
            message = line.to_string();
        } else {
            // clap's tips and the list of valid values, joined onto the one line.
            message.push_str(if message.ends_with(':') { " " } else { "; " });
            message.push_str(line.trim_start_matches("tip: "));
        }
    }
    eprintln!("{message}");
    // The subcommand as typed, when there is one, for the pointer to its help.
    let command = match std::env::args().nth(1).filter(|a| !a.starts_with('-')) {
        Some(sub) => format!("ferrolite {sub}"),
        None => "ferrolite".to_string(),
    };
    match usage {
        Some(usage) => eprintln!("usage: {usage} (see `{command} --help`)"),
        None => eprintln!("see `{command} --help`"),
    }
    2
}

/// The error chain on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// Where human-readable output goes: stdout normally, stderr under `--json`.
struct Out {
    json: bool,
}

impl Out {
    fn new(json: bool) -> Out {
        Out { json }
    }

    /// Write errors are ignored: a closed pipe (`ferrolite inspect M | head`) is the
    /// reader's choice, not a reason to panic.
    fn line(&self, s: impl AsRef<str>) {
        use std::io::Write;
        if self.json {
            let _ = writeln!(std::io::stderr(), "{}", s.as_ref());
        } else {
            let _ = writeln!(std::io::stdout(), "{}", s.as_ref());
        }
    }

    fn json(&self, value: &serde_json::Value) {
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), "{value}");
    }
}

fn load_model(path: &Path) -> Result<crate::ir::Model> {
    match crate::tflite::read_file(path) {
        // Already names the file.
        Err(e @ crate::tflite::ReadError::Input(_)) => Err(e.into()),
        other => other.with_context(|| format!("reading {}", path.display())),
    }
}

/// Fails when `path` cannot take a new output file: it is a directory, or it exists
/// and `force` (the command's `--force`) was not given.
fn check_output_file(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "{} is a directory; give a file path for the output",
            path.display()
        );
    }
    if !force && path.exists() {
        anyhow::bail!(
            "refusing to overwrite {}; pass --force to replace it or choose another output",
            path.display()
        );
    }
    Ok(())
}

/// A model to convert: a model directory (loaded and exported to a float graph) or a
/// `.tflite` file.
pub(crate) fn load_input(path: &Path) -> Result<crate::ir::Model> {
    if path.is_dir() {
        let model = crate::nn::io::load(path)?;
        return crate::nn::export(&model)
            .with_context(|| format!("exporting the model in {}", path.display()));
    }
    load_model(path)
}

/// A model and its `.tflite` bytes, for commands that run or measure a model: a model
/// directory is exported first (the bytes are what `convert DIR` would write), so every
/// command takes what `ferrolite train` makes as well as `.tflite` files.
fn load_runnable(path: &Path) -> Result<(crate::ir::Model, Vec<u8>)> {
    if path.is_dir() {
        let model = load_input(path)?;
        let bytes = crate::tflite::write(&model)
            .with_context(|| format!("exporting the model in {}", path.display()))?;
        return Ok((model, bytes));
    }
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::TFLITE)?;
    let model =
        crate::tflite::read(&bytes).with_context(|| format!("reading {}", path.display()))?;
    Ok((model, bytes))
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(bar_style(
        "{msg} [{bar:30}] {pos}/{len} ({rate}, eta {eta})",
    ));
    bar.set_message(what.to_string());
    bar
}

/// A bar style from `template`, which may use `{rate}`: items per second as a whole
/// number with thousands separated ("9,054/s"; indicatif's own `{per_sec}` prints
/// "9053.8393/s").
fn bar_style(template: &str) -> indicatif::ProgressStyle {
    let rate = |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
        let _ = write!(w, "{}/s", thousands(state.per_sec().round() as u64));
    };
    indicatif::ProgressStyle::with_template(template)
        .map(|s| s.with_key("rate", rate))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// "1 epoch", "5 epochs": a count with its noun in the right number.
fn count(n: usize, singular: &str, plural: &str) -> String {
    format!(
        "{} {}",
        thousands(n as u64),
        if n == 1 { singular } else { plural }
    )
}

/// The training images a run fits on, in words: "1,800 of 2,000 MNIST images (200 held
/// out for validation)", or "2,000 MNIST images" without a split.
fn training_images(loaded: usize, validation_split: f32) -> String {
    let fit = crate::nn::training_samples(loaded, validation_split);
    if fit == loaded {
        return format!("{} MNIST images", thousands(loaded as u64));
    }
    format!(
        "{} of {} MNIST images ({} held out for validation)",
        thousands(fit as u64),
        thousands(loaded as u64),
        thousands((loaded - fit) as u64)
    )
}

/// `n` with a comma between thousands (84,924), as people read sizes and counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `x` to four significant digits, in plain notation from 0.001 to 10,000 (4.738,
/// 0.08236) and in scientific notation outside (1.405e-5).
fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let magnitude = x.abs().log10().floor() as i32;
    if (-3..4).contains(&magnitude) {
        let decimals = (3 - magnitude).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.3e}")
    }
}

fn default_data_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(crate::data::default_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(84924), "84,924");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn four_significant_digits() {
        assert_eq!(significant(4.7381), "4.738");
        assert_eq!(significant(0.082364), "0.08236");
        assert_eq!(significant(0.0014052), "0.001405");
        assert_eq!(significant(9053.8393), "9054");
        assert_eq!(significant(12345.6), "1.235e4");
        assert_eq!(significant(1.4052e-5), "1.405e-5");
        assert_eq!(significant(0.0), "0");
    }
}
