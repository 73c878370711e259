//! `run_into` allocates nothing once warm: neither the executor (view lists, outputs)
//! nor the kernels of these models, on one thread and with the batch split over two.
//! One test runs by default in this binary, so no other test's allocations are counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrolite::interp::Interpreter;
use ferrolite::{TensorBuf, Value};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_per_run(path: &str, batch: usize, threads: usize) -> usize {
    let model = ferrolite::load(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let t = &model.graph.tensors[model.graph.inputs[0]];
    let mut shape = t.shape.clone();
    shape[0] = batch;
    let n: usize = shape.iter().product();
    let data = match t.dtype {
        ferrolite::ir::DType::I8 => TensorBuf::I8((0..n).map(|i| (i % 251) as i8).collect()),
        _ => TensorBuf::F32((0..n).map(|i| (i % 97) as f32 / 97.0).collect()),
    };
    let inputs = [Value::new(shape.clone(), data)];
    let mut interp = Interpreter::new(model).unwrap();
    interp.set_threads(threads).unwrap();
    interp.resize(&[shape]).unwrap();
    let mut outs = interp.new_outputs();
    // Warm: thread pools start, lazily made thread-locals settle.
    for _ in 0..3 {
        interp.run_into(&inputs, &mut outs).unwrap();
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..10 {
        interp.run_into(&inputs, &mut outs).unwrap();
    }
    let per_run = (ALLOCATIONS.load(Ordering::SeqCst) - before) / 10;
    drop(interp);
    // A dropped pool's threads free their thread-locals as they exit, after the drop
    // returns: let that happen before the next count starts.
    std::thread::sleep(std::time::Duration::from_millis(300));
    per_run
}

#[test]
fn run_into_does_not_allocate() {
    // The int8 files: CONV_2D and MAX_POOL_2D made their scratch per run until
    // issue 13 moved it into the plan.
    for path in [
        "fixtures/tflite/mnist_cnn_float32.tflite",
        "fixtures/arch/mobilenet_v3_small_float32.tflite",
        "fixtures/tflite/mnist_cnn_int8.tflite",
        "fixtures/arch/mobilenet_v3_small_int8.tflite",
    ] {
        assert_eq!(allocations_per_run(path, 1, 1), 0, "{path}, one thread");
        assert_eq!(allocations_per_run(path, 6, 2), 0, "{path}, two threads");
    }
    // Their int8 kernels made their scratch per run until issue 13 (files of batch 2);
    // int8 SUM copied its input to read it as uint8, as LiteRT's reference does.
    for path in [
        "fixtures/ops/transpose_conv_int8.tflite",
        "fixtures/ops/reduce_prod_int8.tflite",
        "fixtures/ops/sum_int8.tflite",
    ] {
        assert_eq!(allocations_per_run(path, 2, 1), 0, "{path}");
    }
}
