//! The command line: argument parsing and printing only; the work is in the library.
//!
//! Conventions (design.md): `--json` prints one JSON object as the last line of stdout
//! and sends human output and progress to stderr; failures print one line on stderr and
//! exit non-zero.

mod bench;
mod convert;
mod eval;
mod inspect;
mod run;
mod verify;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferrolite",
    version,
    about = "Run, inspect, verify and convert TensorFlow Lite models, without TensorFlow",
    long_about = "ferrolite reads and writes genuine .tflite files and runs them with its own \
interpreter, cross-checked against tract and LiteRT.\n\nStart with `ferrolite inspect MODEL.tflite` \
or `ferrolite eval MODEL.tflite` (MNIST accuracy on the vendored test set)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's operators, tensors (dtype, shape, quantization, sparsity), constant
    /// bytes, interpreter arena bytes and file size.
    Inspect(inspect::Args),
    /// Run one batch from an .npy file through the built-in interpreter and save the
    /// output as .npy.
    Run(run::Args),
    /// Top-1 accuracy on the MNIST test set (the vendored copy by default).
    Eval(eval::Args),
    /// Run the built-in interpreter and tract on the same inputs and report the largest
    /// difference.
    Verify(verify::Args),
    /// Read a model and write it again as .tflite (atomically; never over the input).
    Convert(convert::Args),
    /// Time inference in the built-in interpreter and, in the same run, in tract.
    Bench(bench::Args),
}

/// Entry point used by `main`: returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Run(a) => run::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Bench(a) => bench::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            1
        }
    }
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

    fn line(&self, s: impl AsRef<str>) {
        if self.json {
            eprintln!("{}", s.as_ref());
        } else {
            println!("{}", s.as_ref());
        }
    }

    fn json(&self, value: &serde_json::Value) {
        println!("{value}");
    }
}

fn load_model(path: &Path) -> Result<crate::ir::Model> {
    crate::tflite::read_file(path).with_context(|| format!("reading {}", path.display()))
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn default_data_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(crate::data::default_dir)
}
