use std::path::PathBuf;

use anyhow::{Context, Result};

use super::load_runnable;
use crate::data::{files, npy};
use crate::interp::Interpreter;

#[derive(clap::Args)]
pub struct Args {
    /// The .tflite model, or a model directory from `ferrolite train` (exported first).
    model: PathBuf,
    /// Input array (.npy) in the model's input dtype; any batch size.
    #[arg(long, short)]
    input: PathBuf,
    /// Where to write the first output as .npy.
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(a: Args) -> Result<i32> {
    files::refuse_overwrite(&[&a.model, &a.input], &a.output)?;
    let (model, _) = load_runnable(&a.model)?;
    let value = npy::read(&a.input)?;
    let graph = &model.graph;
    if graph.inputs.len() != 1 {
        anyhow::bail!(
            "the model has {} inputs; `run` feeds exactly one (.npy) input",
            graph.inputs.len()
        );
    }
    let decl = &graph.tensors[graph.inputs[0]];
    if value.dtype() != decl.dtype {
        anyhow::bail!(
            "{} holds {} data but the model input '{}' expects {}; convert the array first",
            a.input.display(),
            value.dtype(),
            decl.name,
            decl.dtype
        );
    }
    let mut interp = Interpreter::new(model).context("planning the model")?;
    let outputs = interp.run(&[value]).context("running the model")?;
    let first = outputs.first().context("the model has no outputs")?;
    let bytes = npy::to_bytes(first)?;
    files::write_atomic(&a.output, &bytes)?;
    eprintln!(
        "wrote {} ({} {:?})",
        a.output.display(),
        first.dtype(),
        first.shape
    );
    Ok(0)
}
