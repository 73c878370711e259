//! Sparse metadata → the DENSIFY decoder. Either a whole `.tflite` (bytes 4..8 are
//! "TFL3"), whose sparse constants are expanded as the planner would, or a compact
//! encoding of one sparsity description, its dense shape and stored values, so that
//! the fuzzer reaches the decoder's checks without having to keep a flatbuffer valid.
#![no_main]

use ferrolite::interp::TensorBuf;
use ferrolite::ir::{DType, DimensionMetadata, IndexVector, Sparsity};
use libfuzzer_sys::fuzz_target;

/// Dense results above this are validated but not expanded: the decoder's own cap
/// (1 GiB) is correct for real models and would only exhaust the fuzzer's memory.
const MAX_EXPANDED_BYTES: usize = 16 << 20;

/// Reads the compact encoding; running out of bytes reads zeros.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// Mostly small numbers; a high first bit reads a full 32-bit value so that
    /// overflow and out-of-range checks are reached too.
    fn number(&mut self) -> usize {
        let b = self.byte();
        if b & 0x80 == 0 {
            usize::from(b)
        } else {
            let bytes = [self.byte(), self.byte(), self.byte(), self.byte()];
            u32::from_le_bytes(bytes) as usize
        }
    }

    fn index_vector(&mut self) -> IndexVector {
        let kind = self.byte() % 3;
        let len = usize::from(self.byte());
        match kind {
            0 => IndexVector::U8((0..len).map(|_| self.byte()).collect()),
            1 => IndexVector::U16(
                (0..len)
                    .map(|_| u16::from_le_bytes([self.byte(), self.byte()]))
                    .collect(),
            ),
            _ => IndexVector::I32(
                (0..len)
                    .map(|_| {
                        i32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
                    })
                    .collect(),
            ),
        }
    }
}

fn dtype(b: u8) -> DType {
    match b % 8 {
        0 => DType::F32,
        1 => DType::F16,
        2 => DType::I8,
        3 => DType::U8,
        4 => DType::I16,
        5 => DType::I32,
        6 => DType::I64,
        _ => DType::Bool,
    }
}

fn expand(sparsity: &Sparsity, shape: &[usize], values: &TensorBuf) {
    let Ok(layout) = ferrolite::sparse::SparseLayout::new(sparsity, shape) else {
        return;
    };
    if layout.dense_len().saturating_mul(values.dtype().size()) > MAX_EXPANDED_BYTES {
        return;
    }
    if let Ok(dense) = ferrolite::sparse::densify(sparsity, shape, values) {
        assert_eq!(dense.len(), layout.dense_len(), "dense length");
        assert_eq!(dense.dtype(), values.dtype(), "dense dtype");
    }
}

fn from_tflite(data: &[u8]) {
    let Ok(model) = ferrolite::tflite::read(data) else {
        return;
    };
    for t in &model.graph.tensors {
        if let (Some(s), Some(bytes)) = (&t.sparsity, &t.data) {
            expand(s, &t.shape, &TensorBuf::from_le_bytes(t.dtype, bytes));
        }
    }
}

fn from_compact(data: &[u8]) {
    let mut c = Cursor(data);
    let rank = usize::from(c.byte() % 5);
    let shape: Vec<usize> = (0..rank).map(|_| c.number()).collect();
    let blocks = usize::from(c.byte() % 4);
    let block_map: Vec<usize> = (0..blocks).map(|_| c.number()).collect();
    let levels = usize::from(c.byte() % 10);
    let traversal_order: Vec<usize> = (0..levels).map(|_| c.number()).collect();
    let metas = usize::from(c.byte() % 10);
    let dim_metadata = (0..metas)
        .map(|_| {
            if c.byte() % 2 == 0 {
                DimensionMetadata::Dense { size: c.number() }
            } else {
                DimensionMetadata::SparseCsr {
                    segments: c.index_vector(),
                    indices: c.index_vector(),
                }
            }
        })
        .collect();
    let dtype = dtype(c.byte());
    // The rest are the stored values (a partial element is dropped by the decoder).
    let values = TensorBuf::from_le_bytes(dtype, c.0);
    let sparsity = Sparsity {
        traversal_order,
        block_map,
        dim_metadata,
    };
    expand(&sparsity, &shape, &values);
}

fuzz_target!(|data: &[u8]| {
    if data.get(4..8) == Some(b"TFL3") {
        from_tflite(data);
    } else {
        from_compact(data);
    }
});
