//! Helpers the kernel tests of this directory share: run one op on float tensors, a

pub mod q8;

use std::sync::Arc;

use crate::ir::KernelError;
use crate::ir::{self, DType, Op, Operator};
use crate::ir::{TensorBuf, View, ViewMut};
use crate::kernels::cpu::CpuFeatures;
use crate::ops::exec::TensorInfo;
use crate::ops::exec::{prepare, PrepareCtx, Prepared};

/// A float input: shape, values, and whether the planner would know it as a constant.
pub struct In {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub constant: bool,
}

pub fn var(shape: &[usize], data: Vec<f32>) -> Option<In> {
    Some(In {
        shape: shape.to_vec(),
        data,
        constant: false,
    })
}

pub fn cst(shape: &[usize], data: Vec<f32>) -> Option<In> {
    Some(In {
        shape: shape.to_vec(),
        data,
        constant: true,
    })
}

pub fn info(i: &In) -> TensorInfo {
    TensorInfo {
        name: "t".into(),
        dtype: DType::F32,
        shape: i.shape.clone(),
        quantization: None,
        sparsity: None,
        constant: i.constant.then(|| Arc::new(TensorBuf::F32(i.data.clone()))),
    }
}

/// This CPU's features, or none at all when `portable`: the two variants a test compares.
pub fn cpu_variant(portable: bool) -> CpuFeatures {
    if portable {
        CpuFeatures::portable()
    } else {
        CpuFeatures::detect()
    }
}

/// Prepares `op` with the given tensor infos (None = omitted input) on this CPU.
pub fn prepare_infos(op: Op, infos: &[Option<TensorInfo>]) -> Result<Prepared, KernelError> {
    prepare_infos_on(CpuFeatures::detect(), op, infos)
}

/// [`prepare_infos`] with the SIMD variants `cpu` allows.
pub fn prepare_infos_on(
    cpu: CpuFeatures,
    op: Op,
    infos: &[Option<TensorInfo>],
) -> Result<Prepared, KernelError> {
    let operator = Operator {
        op,
        inputs: (0..infos.len()).map(Some).collect(),
        outputs: vec![infos.len()],
    };
    let out = ir::Tensor::activation("out", DType::F32, vec![]);
    let ctx = PrepareCtx {
        op: &operator,
        inputs: infos.iter().map(|i| i.as_ref()).collect(),
        outputs: vec![&out],
        cpu,
    };
    prepare(&ctx)
}

/// Prepares and runs `op` once; returns the output shape and values.
pub fn run_f32(op: Op, ins: &[Option<In>]) -> Result<(Vec<usize>, Vec<f32>), KernelError> {
    run_f32_on(CpuFeatures::detect(), op, ins)
}

/// [`run_f32`] with the SIMD variants `cpu` allows.
pub fn run_f32_on(
    cpu: CpuFeatures,
    op: Op,
    ins: &[Option<In>],
) -> Result<(Vec<usize>, Vec<f32>), KernelError> {
    let infos: Vec<Option<TensorInfo>> = ins.iter().map(|i| i.as_ref().map(info)).collect();
    let prepared = prepare_infos_on(cpu, op, &infos)?;
    let shape = prepared.output_shapes[0].clone();
    let mut out = vec![f32::NAN; shape.iter().product()];
    let views: Vec<View<'_>> = ins
        .iter()
        .map(|i| match i {
            Some(i) => View::F32(&i.data),
            None => View::Absent,
        })
        .collect();
    prepared.kernel.run(&views, &mut [ViewMut::F32(&mut out)])?;
    Ok((shape, out))
}

pub use crate::kernels::test_rng::Rng;

/// Element-wise closeness with an absolute tolerance scaled by the data magnitude.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}
