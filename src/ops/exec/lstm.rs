//! UNIDIRECTIONAL_SEQUENCE_LSTM, float32: checks the 24 operands, copies the weights, and
//! runs `kernels::reference::lstm` over the sequence. The output and cell states
//! (operands 18 and 19) are variable tensors that TFLite carries across invocations from
//! zeros; as for SVDF, the kernel owns them (see `svdf.rs`). int8 LSTMs (int16 cell state,
//! intermediate scales) are refused with a message saying so.

use std::sync::Mutex;

use super::shape::expect_output_dtype;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{Activation, DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::reference::lstm::{lstm_step_f32, LstmScratch, LstmShape, LstmWeights};
use crate::ops::exec::TensorInfo;

/// Operand slots, TFLite's order.
const INPUT: usize = 0;
const INPUT_TO_INPUT: usize = 1;
const RECURRENT_TO_INPUT: usize = 5;
const CELL_TO_INPUT: usize = 9;
const INPUT_GATE_BIAS: usize = 12;
const PROJECTION: usize = 16;
const PROJECTION_BIAS: usize = 17;
const OUTPUT_STATE: usize = 18;
const CELL_STATE: usize = 19;
const LAYER_NORM: [usize; 4] = [20, 21, 22, 23];

struct Weights {
    /// Every constant operand 1..=17 by slot (empty when omitted).
    by_slot: Vec<Vec<f32>>,
}

impl Weights {
    fn get(&self, slot: usize) -> Option<&[f32]> {
        self.by_slot
            .get(slot)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    fn req(&self, slot: usize) -> &[f32] {
        self.get(slot).unwrap_or(&[])
    }

    fn view(&self) -> LstmWeights<'_> {
        LstmWeights {
            input_to_input: self.get(INPUT_TO_INPUT),
            input_to_forget: self.req(2),
            input_to_cell: self.req(3),
            input_to_output: self.req(4),
            recurrent_to_input: self.get(RECURRENT_TO_INPUT),
            recurrent_to_forget: self.req(6),
            recurrent_to_cell: self.req(7),
            recurrent_to_output: self.req(8),
            cell_to_input: self.get(CELL_TO_INPUT),
            cell_to_forget: self.get(10),
            cell_to_output: self.get(11),
            input_gate_bias: self.get(INPUT_GATE_BIAS),
            forget_gate_bias: self.req(13),
            cell_gate_bias: self.req(14),
            output_gate_bias: self.req(15),
            projection: self.get(PROJECTION),
            projection_bias: self.get(PROJECTION_BIAS),
        }
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::UnidirectionalSequenceLstm(o) = &ctx.op.op else {
        kbail!("not an LSTM");
    };
    let input = ctx.input(INPUT)?;
    if input.dtype != DType::F32 {
        kbail!(
            "only float32 LSTMs run in ferrolite so far; this one has {} input",
            input.dtype
        );
    }
    expect_output_dtype(ctx, 0, DType::F32)?;
    if LAYER_NORM.iter().any(|&s| ctx.opt_input(s).is_some()) {
        kbail!("layer-normalized LSTMs are not supported yet");
    }
    let (time, batch, n_input) = match input.shape.as_slice() {
        &[a, b, n] if o.time_major => (a, b, n),
        &[b, a, n] => (a, b, n),
        other => kbail!("input must be rank 3, has shape {other:?}"),
    };
    let forget = ctx.input(2)?;
    let [n_cell, depth] = dims2(forget, "input-to-forget weights")?;
    if depth != n_input {
        kbail!("input-to-forget weights have depth {depth}, the input {n_input}");
    }
    let recurrent = ctx.input(6)?;
    let [_, n_output] = dims2(recurrent, "recurrent-to-forget weights")?;

    // The expected shape of every operand that may be present.
    let expected = |slot: usize| -> Vec<usize> {
        match slot {
            1..=4 => vec![n_cell, n_input],
            5..=8 => vec![n_cell, n_output],
            9..=15 => vec![n_cell],
            PROJECTION => vec![n_output, n_cell],
            PROJECTION_BIAS => vec![n_output],
            _ => vec![],
        }
    };
    let required = [2, 3, 4, 6, 7, 8, 13, 14, 15];
    let mut by_slot = vec![Vec::new(); 18];
    for (slot, values) in by_slot.iter_mut().enumerate().skip(1) {
        let Some(info) = ctx.opt_input(slot) else {
            if required.contains(&slot) {
                kbail!("operand {slot} is required");
            }
            continue;
        };
        if info.shape != expected(slot) {
            kbail!(
                "operand {slot} ('{}') has shape {:?}, expected {:?}",
                info.name,
                info.shape,
                expected(slot)
            );
        }
        if info.dtype != DType::F32 {
            kbail!(
                "operand {slot} ('{}') is {}; hybrid LSTMs are not supported yet",
                info.name,
                info.dtype
            );
        }
        *values = constant_f32(info)?;
    }
    let cifg = [INPUT_TO_INPUT, RECURRENT_TO_INPUT, INPUT_GATE_BIAS].map(|s| by_slot[s].is_empty());
    if cifg.iter().any(|&c| c) && !cifg.iter().all(|&c| c) {
        kbail!("the input gate needs input and recurrent weights and a bias, or none of them");
    }
    if by_slot[PROJECTION].is_empty() && n_output != n_cell {
        kbail!("without projection weights the output size ({n_output}) must equal the cell size ({n_cell})");
    }
    if cifg[0] && !by_slot[CELL_TO_INPUT].is_empty() {
        kbail!("a CIFG LSTM has no input-gate peephole");
    }
    for (slot, len) in [(OUTPUT_STATE, n_output), (CELL_STATE, n_cell)] {
        let info = ctx.input(slot)?;
        if info.constant.is_some() || info.dtype != DType::F32 {
            kbail!(
                "operand {slot} ('{}') must be a float32 variable tensor",
                info.name
            );
        }
        if info.num_elements() != batch * len {
            kbail!(
                "state operand {slot} has shape {:?}, expected {batch} x {len}",
                info.shape
            );
        }
    }
    let clamp = match o.activation {
        Activation::Tanh => None,
        Activation::Relu => Some((0.0, f32::INFINITY)),
        Activation::Relu6 => Some((0.0, 6.0)),
        Activation::ReluN1To1 => Some((-1.0, 1.0)),
        other => kbail!("LSTM activation {} is not supported", other.name()),
    };
    let shape = LstmShape {
        input: n_input,
        cell: n_cell,
        output: n_output,
        clamp,
        cell_clip: o.cell_clip,
        proj_clip: o.proj_clip,
    };
    let output_shape = if o.time_major {
        vec![time, batch, n_output]
    } else {
        vec![batch, time, n_output]
    };
    Ok(Prepared::new(
        vec![output_shape],
        LstmF32 {
            shape,
            time,
            batch,
            time_major: o.time_major,
            weights: Weights { by_slot },
            state: Mutex::new(State {
                h: vec![0.0; batch * n_output],
                c: vec![0.0; batch * n_cell],
                scratch: LstmScratch::new(n_cell),
            }),
        },
    ))
}

fn dims2(info: &TensorInfo, what: &str) -> Result<[usize; 2], KernelError> {
    match info.shape.as_slice() {
        &[a, b] => Ok([a, b]),
        other => kbail!("{what} must be rank 2, has shape {other:?}"),
    }
}

fn constant_f32(info: &TensorInfo) -> Result<Vec<f32>, KernelError> {
    let buf = info.constant_or_err("LSTM weights")?;
    Ok(buf.view().f32()?.to_vec())
}

struct State {
    h: Vec<f32>,
    c: Vec<f32>,
    scratch: LstmScratch,
}

struct LstmF32 {
    shape: LstmShape,
    time: usize,
    batch: usize,
    time_major: bool,
    weights: Weights,
    state: Mutex<State>,
}

impl Kernel for LstmF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let x = inputs.first().map(View::f32).transpose()?.unwrap_or(&[]);
        let y = outputs
            .first_mut()
            .ok_or_else(|| KernelError::new("no output"))?
            .f32()?;
        let s = self.shape;
        if x.len() != self.time * self.batch * s.input
            || y.len() != self.time * self.batch * s.output
        {
            kbail!("input or output size differs from the plan");
        }
        let mut guard = self
            .state
            .lock()
            .map_err(|_| KernelError::new("the LSTM state was poisoned by a failed run"))?;
        let State { h, c, scratch } = &mut *guard;
        let w = self.weights.view();
        for b in 0..self.batch {
            let h = &mut h[b * s.output..][..s.output];
            let c = &mut c[b * s.cell..][..s.cell];
            for t in 0..self.time {
                let row = if self.time_major {
                    t * self.batch + b
                } else {
                    b * self.time + t
                };
                lstm_step_f32(s, &w, &x[row * s.input..][..s.input], h, c, scratch);
                y[row * s.output..][..s.output].copy_from_slice(h);
            }
        }
        Ok(())
    }
}
