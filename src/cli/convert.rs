use std::path::PathBuf;

use anyhow::{Context, Result};

use super::load_input;
use crate::data::files;

#[derive(clap::Args)]
pub struct Args {
    /// Input model: a model directory or .tflite.
    input: PathBuf,
    /// Output .tflite path (must differ from the input).
    #[arg(short, long)]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<i32> {
    files::refuse_overwrite(&[&a.input], &a.output)?;
    let model = load_input(&a.input)?;
    let bytes = crate::tflite::write(&model).context("writing the model")?;
    files::write_atomic(&a.output, &bytes)?;
    eprintln!("wrote {} ({} bytes)", a.output.display(), bytes.len());
    Ok(0)
}
