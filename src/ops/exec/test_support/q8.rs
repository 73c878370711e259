//! Helpers for the 8-bit kernel tests: quantized tensor infos, running one op on

use std::sync::Arc;

use crate::ir::KernelError;
use crate::ir::{self, DType, Op, Operator, Quantization};
use crate::ir::{TensorBuf, View};
use crate::kernels::cpu::CpuFeatures;
use crate::ops::exec::TensorInfo;
use crate::ops::exec::{prepare, PrepareCtx};

/// A quantized tensor for a test: values (as i32), shape, quantization, constness.
#[derive(Clone)]
pub struct Q {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub values: Vec<i32>,
    pub quant: Option<Quantization>,
    pub constant: bool,
}

pub fn per_tensor(dtype: DType, shape: &[usize], values: Vec<i32>, s: f32, zp: i64) -> Q {
    Q {
        dtype,
        shape: shape.to_vec(),
        values,
        quant: Some(Quantization::per_tensor(s, zp)),
        constant: false,
    }
}

pub fn per_channel(shape: &[usize], values: Vec<i32>, scales: Vec<f32>, axis: usize) -> Q {
    let n = scales.len();
    Q {
        dtype: DType::I8,
        shape: shape.to_vec(),
        values,
        quant: Some(Quantization {
            scale: scales,
            zero_point: vec![0; n],
            quantized_dimension: axis,
            ..Default::default()
        }),
        constant: true,
    }
}

pub fn bias(values: Vec<i32>) -> Q {
    Q {
        dtype: DType::I32,
        shape: vec![values.len()],
        values,
        quant: None,
        constant: true,
    }
}

impl Q {
    pub fn constant(mut self) -> Q {
        self.constant = true;
        self
    }

    pub fn buf(&self) -> TensorBuf {
        match self.dtype {
            DType::I8 => TensorBuf::I8(self.values.iter().map(|&v| v as i8).collect()),
            DType::U8 => TensorBuf::U8(self.values.iter().map(|&v| v as u8).collect()),
            DType::I32 => TensorBuf::I32(self.values.clone()),
            other => panic!("no test buffers of {other}"),
        }
    }

    pub fn info(&self) -> TensorInfo {
        TensorInfo {
            name: "t".into(),
            dtype: self.dtype,
            shape: self.shape.clone(),
            quantization: self.quant.clone(),
            sparsity: None,
            constant: self.constant.then(|| Arc::new(self.buf())),
        }
    }
}

/// Prepares and runs `op` once; `out` gives the output dtype and quantization.
/// Returns the output shape and values widened to i32.
pub fn run_q8(
    op: Op,
    ins: &[Option<Q>],
    out_dtype: DType,
    out_scale: f32,
    out_zp: i64,
) -> Result<(Vec<usize>, Vec<i32>), KernelError> {
    run_q8_on(CpuFeatures::detect(), op, ins, out_dtype, out_scale, out_zp)
}

/// [`run_q8`] with the SIMD variants `cpu` allows.
pub fn run_q8_on(
    cpu: CpuFeatures,
    op: Op,
    ins: &[Option<Q>],
    out_dtype: DType,
    out_scale: f32,
    out_zp: i64,
) -> Result<(Vec<usize>, Vec<i32>), KernelError> {
    let infos: Vec<Option<TensorInfo>> = ins.iter().map(|i| i.as_ref().map(Q::info)).collect();
    let operator = Operator {
        op,
        inputs: (0..infos.len()).map(Some).collect(),
        outputs: vec![infos.len()],
    };
    let mut out_tensor = ir::Tensor::activation("out", out_dtype, vec![]);
    out_tensor.quantization = Some(Quantization::per_tensor(out_scale, out_zp));
    let ctx = PrepareCtx {
        op: &operator,
        inputs: infos.iter().map(|i| i.as_ref()).collect(),
        outputs: vec![&out_tensor],
        cpu,
    };
    let prepared = prepare(&ctx)?;
    let shape = prepared.output_shapes[0].clone();
    let bufs: Vec<Option<TensorBuf>> = ins.iter().map(|i| i.as_ref().map(Q::buf)).collect();
    let views: Vec<View<'_>> = bufs
        .iter()
        .map(|b| b.as_ref().map_or(View::Absent, |b| b.view()))
        .collect();
    let mut out = TensorBuf::zeros(out_dtype, shape.iter().product());
    prepared.kernel.run(&views, &mut [out.view_mut()])?;
    let values = out.to_f64().iter().map(|&v| v as i32).collect();
    Ok((shape, values))
}
