//! Arbitrary bytes must never make the reader (or planning a model it accepts) panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Models whose tensors declare more than this are read but not planned: the reader
/// accepts tensors up to 2 GiB each, and planning would then allocate arenas that size,
/// which trips the fuzzer's memory limit without being a bug.
const MAX_PLANNED_BYTES: usize = 64 << 20;

fuzz_target!(|data: &[u8]| {
    // The inspection reader accepts more (unsupported ops); planning must refuse those.
    if let Ok(model) = ferrolite::tflite::read_for_inspection(data) {
        if model.graph.operators.len() <= 64 {
            let _ = ferrolite::tflite::write(&model);
        }
    }
    let Ok(model) = ferrolite::tflite::read(data) else {
        return;
    };
    let declared: usize = model
        .graph
        .tensors
        .iter()
        .map(|t| t.dense_bytes())
        .fold(0, usize::saturating_add);
    if declared <= MAX_PLANNED_BYTES {
        let _ = ferrolite::interp::Interpreter::new(model);
    }
});
