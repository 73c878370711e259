//! The one in-memory graph every path goes through.
//!
//! The reader and the trainer's exporter produce a [`Model`]; the quantizer and sparsifier
//! transform it; the writer and the interpreter consume it. It knows nothing about
//! flatbuffers. Constant tensors own their bytes (little-endian, as stored in `.tflite`),
//! so a model can be cloned, edited and written without a buffer table to keep in sync.

pub mod limits;
mod op;
mod tensor;
mod validate;
mod value;

pub use op::*;
pub use tensor::*;
pub use validate::{Arity, GraphError};
pub use value::*;

/// A model: one graph (TFLite subgraph 0) plus what the file says about it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Model {
    pub graph: Graph,
    /// Free text, e.g. which tool wrote the file.
    pub description: Option<String>,
    /// The `serving_default`-style signature naming the inputs and outputs.
    pub signature: Option<Signature>,
}

/// Operators in execution order over a table of tensors.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    pub name: Option<String>,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub operators: Vec<Operator>,
}

/// Names for the graph's inputs and outputs (a TFLite `SignatureDef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub key: String,
    /// (alias, tensor index)
    pub inputs: Vec<(String, usize)>,
    pub outputs: Vec<(String, usize)>,
}

impl Graph {
    /// The tensor at `index`; the graph's own indices are validated by the reader, so
    /// callers holding an index from this graph may rely on it.
    pub fn tensor(&self, index: usize) -> &Tensor {
        &self.tensors[index]
    }

    /// Index of the operator that produces `tensor`, if any.
    pub fn producer(&self, tensor: usize) -> Option<usize> {
        self.operators
            .iter()
            .position(|op| op.outputs.contains(&tensor))
    }

    /// Indices of the operators that read `tensor`.
    pub fn consumers(&self, tensor: usize) -> Vec<usize> {
        self.operators
            .iter()
            .enumerate()
            .filter(|(_, op)| op.inputs.contains(&Some(tensor)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Total bytes held by constant tensors.
    pub fn constant_bytes(&self) -> usize {
        self.tensors
            .iter()
            .filter_map(|t| t.data.as_ref())
            .map(|d| d.len())
            .sum()
    }
}

impl Model {
    /// A model around `graph`, with a `serving_default` signature naming each input and
    /// output after its tensor.
    pub fn with_default_signature(graph: Graph) -> Model {
        let name = |i: usize| graph.tensors[i].name.clone();
        let signature = Signature {
            key: "serving_default".to_string(),
            inputs: graph.inputs.iter().map(|&i| (name(i), i)).collect(),
            outputs: graph.outputs.iter().map(|&i| (name(i), i)).collect(),
        };
        Model {
            graph,
            description: None,
            signature: Some(signature),
        }
    }
}

/// A float constant or weight holding NaN or infinite values, which every result it
/// touches inherits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NonFinite {
    pub name: String,
    /// Values that are NaN or infinite.
    pub count: usize,
    pub total: usize,
}

impl std::fmt::Display for NonFinite {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{} ({} of {} values)", self.name, self.count, self.total)
    }
}

impl NonFinite {
    /// `Some` when `values` hold a NaN or an infinity.
    pub fn of(name: &str, values: impl ExactSizeIterator<Item = f32>) -> Option<NonFinite> {
        let total = values.len();
        let count = values.filter(|v| !v.is_finite()).count();
        (count > 0).then(|| NonFinite {
            name: name.to_string(),
            count,
            total,
        })
    }

    /// One line for messages: the first few offenders and how many more.
    pub fn list(found: &[NonFinite]) -> String {
        let mut text: Vec<String> = found.iter().take(4).map(|n| n.to_string()).collect();
        if found.len() > 4 {
            text.push(format!("and {} more", found.len() - 4));
        }
        text.join(", ")
    }
}

impl Graph {
    /// The float32 and float16 constants holding NaN or infinite values.
    pub fn nonfinite_constants(&self) -> Vec<NonFinite> {
        self.tensors
            .iter()
            .filter_map(|t| {
                let data = t.data.as_deref()?;
                match t.dtype {
                    DType::F32 => NonFinite::of(
                        &t.name,
                        data.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                    ),
                    DType::F16 => NonFinite::of(
                        &t.name,
                        data.chunks_exact(2)
                            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()),
                    ),
                    _ => None,
                }
            })
            .collect()
    }
}
