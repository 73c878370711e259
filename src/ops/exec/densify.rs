//! DENSIFY: expands a constant sparse tensor (float32, float16 or int8) into its dense
//! shape. TensorFlow inserts it in front of ops that cannot read sparse weights. The
//! input is always constant, so the planner runs this once at plan time.

use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::sparse::SparseLayout;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let Some(sparsity) = &input.sparsity else {
        crate::kbail!(
            "input '{}' is not a sparse tensor; DENSIFY only expands sparse constants",
            input.name
        );
    };
    let Some(values) = &input.constant else {
        crate::kbail!(
            "input '{}' is sparse but not constant; DENSIFY only expands constant weights",
            input.name
        );
    };
    if !matches!(input.dtype, DType::F32 | DType::F16 | DType::I8) {
        crate::kbail!(
            "input type {} is not supported (float32, float16 or int8)",
            input.dtype
        );
    }
    if output.dtype != input.dtype {
        crate::kbail!(
            "output type {} differs from input type {}",
            output.dtype,
            input.dtype
        );
    }
    let layout = SparseLayout::new(sparsity, &input.shape)
        .map_err(|e| KernelError::new(format!("input '{}': {e}", input.name)))?;
    if values.len() != layout.stored_len() {
        crate::kbail!(
            "input '{}' stores {} values, its sparse encoding describes {}",
            input.name,
            values.len(),
            layout.stored_len()
        );
    }
    Ok(Prepared::new(vec![input.shape.clone()], Densify { layout }))
}

struct Densify {
    layout: SparseLayout,
}

impl Kernel for Densify {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(input), Some(output)) = (inputs.first(), outputs.first_mut()) else {
            crate::kbail!("DENSIFY needs one input and one output");
        };
        let result = match (input, output) {
            (View::F32(v), ViewMut::F32(o)) => self.layout.expand_into(v, o),
            (View::F16(v), ViewMut::F16(o)) => self.layout.expand_into(v, o),
            (View::I8(v), ViewMut::I8(o)) => self.layout.expand_into(v, o),
            (i, o) => crate::kbail!(
                "cannot densify {} data into a {} tensor",
                i.type_name(),
                o.type_name()
            ),
        };
        result.map_err(|e| KernelError::new(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::{Interpreter, TensorBuf, TensorInfo};
    use crate::ir::{DimensionMetadata, Graph, IndexVector, Model, Op, Operator, Sparsity, Tensor};
    use half::f16;
    use std::sync::Arc;

    /// The docs' 1×4-block example: W (2×8) = row0 [0,0,0,0, 1,2,0,3], row1 [4,0,...].
    fn block_1x4() -> Sparsity {
        Sparsity {
            traversal_order: vec![0, 1, 2],
            block_map: vec![1],
            dim_metadata: vec![
                DimensionMetadata::Dense { size: 2 },
                DimensionMetadata::SparseCsr {
                    segments: IndexVector::U8(vec![0, 1, 2]),
                    indices: IndexVector::U8(vec![1, 0]),
                },
                DimensionMetadata::Dense { size: 4 },
            ],
        }
    }

    fn model_with(values: Tensor) -> Model {
        let out = Tensor::activation("dense", values.dtype, vec![2, 8]);
        Model {
            graph: Graph {
                tensors: vec![values, out],
                inputs: vec![],
                outputs: vec![1],
                operators: vec![Operator::new(Op::Densify, vec![0], vec![1])],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn densifies_float32_through_the_planner() {
        let mut w = Tensor::constant_f32("w", vec![2, 8], &[1., 2., 0., 3., 4., 0., 0., 0.]);
        w.sparsity = Some(block_1x4());
        let mut interp = Interpreter::new(model_with(w)).unwrap();
        let out = interp.run(&[]).unwrap();
        assert_eq!(out[0].shape, vec![2, 8]);
        #[rustfmt::skip]
        let expected = TensorBuf::F32(vec![
            0., 0., 0., 0., 1., 2., 0., 3.,
            4., 0., 0., 0., 0., 0., 0., 0.,
        ]);
        assert_eq!(out[0].data, expected);
    }

    #[test]
    fn densifies_int8_and_float16() {
        let mut w = Tensor::constant_i8("w", vec![2, 8], &[1, 2, 0, 3, 4, 0, 0, 0]);
        w.sparsity = Some(block_1x4());
        let out = Interpreter::new(model_with(w)).unwrap().run(&[]).unwrap();
        assert_eq!(
            out[0].data,
            TensorBuf::I8(vec![0, 0, 0, 0, 1, 2, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0])
        );

        let halves: Vec<u8> = [1.5f32, 2., 0., 3., 4., 0., 0., 0.]
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        let mut w = Tensor::constant("w", DType::F16, vec![2, 8], halves);
        w.sparsity = Some(block_1x4());
        let out = Interpreter::new(model_with(w)).unwrap().run(&[]).unwrap();
        let TensorBuf::F16(v) = &out[0].data else {
            panic!("not f16")
        };
        assert_eq!(v[4], f16::from_f32(1.5));
        assert_eq!(v[8], f16::from_f32(4.));
        assert_eq!(v.iter().filter(|x| x.to_f32() != 0.).count(), 4);
    }

    fn info(sparsity: Option<Sparsity>, constant: Option<TensorBuf>) -> TensorInfo {
        TensorInfo {
            name: "w".into(),
            dtype: DType::F32,
            shape: vec![2, 8],
            quantization: None,
            sparsity,
            constant: constant.map(Arc::new),
        }
    }

    fn prepare_err(input: &TensorInfo) -> String {
        let op = Operator::new(Op::Densify, vec![0], vec![1]);
        let out = Tensor::activation("dense", DType::F32, vec![2, 8]);
        let ctx = PrepareCtx {
            op: &op,
            inputs: vec![Some(input)],
            outputs: vec![&out],
            cpu: crate::kernels::cpu::CpuFeatures::detect(),
        };
        match prepare(&ctx) {
            Ok(_) => panic!("prepare accepted a bad input"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn refuses_dense_runtime_and_malformed_inputs() {
        let vals = TensorBuf::F32(vec![1., 2., 0., 3., 4., 0., 0., 0.]);
        assert!(prepare_err(&info(None, Some(vals.clone()))).contains("not a sparse tensor"));
        assert!(prepare_err(&info(Some(block_1x4()), None)).contains("not constant"));
        let short = TensorBuf::F32(vec![1., 2., 0., 3.]);
        assert!(prepare_err(&info(Some(block_1x4()), Some(short))).contains("stores 4 values"));
        let mut bad = block_1x4();
        bad.traversal_order = vec![1, 0];
        assert!(prepare_err(&info(Some(bad), Some(vals))).contains("traversal_order"));
    }
}
