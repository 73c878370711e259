//! Arbitrary bytes that the reader accepts must plan and run one inference on zero
//! inputs with a typed error or a result: never a panic, hang or runaway allocation.
#![no_main]

use ferrolite::interp::{Interpreter, TensorBuf, Value};
use libfuzzer_sys::fuzz_target;

/// The declared tensors of a model that is planned at all. The reader accepts tensors
/// up to 2 GiB and the planner up to 1 GiB each, as a real model may need; a fuzz input
/// that declares such sizes is a valid request the library would honour, and honouring
/// it would only exhaust the fuzzer's memory limit.
const MAX_DECLARED_BYTES: usize = 16 << 20;
/// The planned arena, checked before anything runs (the planner may infer shapes larger
/// than the declared ones).
const MAX_ARENA_BYTES: usize = 64 << 20;
/// Steps of a plan that is run: each is a kernel call, and a few hundred is already
/// far beyond the fixtures.
const MAX_STEPS: usize = 512;
/// An upper bound of the multiply-adds one run may do (see [`work_bound`]). A
/// convolution or pooling whose window covers a large input is valid and merely slow
/// (under the sanitizer, 10^9 steps take longer than the fuzzer's per-input timeout).
const MAX_WORK: usize = 300_000_000;

/// For each operator: output elements × the most any one input offers each output
/// channel (a filter's taps × input channels, a pooling window's input plane, a fully
/// connected row). Bounds convolution, pooling and matrix work from above.
fn work_bound(interp: &Interpreter) -> usize {
    let elems = |t: usize| {
        interp.plan().tensor_info(t).map_or(0, |i| {
            i.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
        })
    };
    interp
        .model()
        .graph
        .operators
        .iter()
        .map(|op| {
            let out: usize = op
                .outputs
                .iter()
                .map(|&t| elems(t))
                .fold(0, usize::saturating_add);
            let channels = op
                .outputs
                .first()
                .and_then(|&t| interp.plan().tensor_info(t))
                .and_then(|i| i.shape.last().copied())
                .unwrap_or(1)
                .max(1);
            let per_output = op
                .inputs
                .iter()
                .flatten()
                .map(|&t| elems(t) / channels)
                .max()
                .unwrap_or(1)
                .max(1);
            out.saturating_mul(per_output)
        })
        .fold(0, usize::saturating_add)
}

fuzz_target!(|data: &[u8]| {
    let Ok(model) = ferrolite::tflite::read(data) else {
        return;
    };
    let declared: usize = model
        .graph
        .tensors
        .iter()
        .map(|t| t.dense_bytes())
        .fold(0, usize::saturating_add);
    if declared > MAX_DECLARED_BYTES {
        return;
    }
    let inputs: Vec<Value> = model
        .graph
        .inputs
        .iter()
        .filter_map(|&i| model.graph.tensors.get(i))
        .map(|t| {
            // Saturating like dense_bytes, which bounded it above.
            let len = t.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d));
            Value::new(t.shape.clone(), TensorBuf::zeros(t.dtype, len))
        })
        .collect();
    let Ok(mut interp) = Interpreter::new(model) else {
        return;
    };
    if interp.plan().arena_bytes() > MAX_ARENA_BYTES
        || interp.plan().num_steps() > MAX_STEPS
        || work_bound(&interp) > MAX_WORK
    {
        return;
    }
    if let Ok(outputs) = interp.run(&inputs) {
        // A result must describe itself consistently.
        for out in &outputs {
            let len: usize = out.shape.iter().product();
            assert_eq!(len, out.data.len(), "output shape {:?} vs data", out.shape);
        }
    }
});
