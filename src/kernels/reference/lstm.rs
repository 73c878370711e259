//! One float LSTM time step in the order of TFLite's `LstmStepFloat`
//! (`lstm_eval.cc`): each gate starts from its bias, adds the input and the recurrent
//! products (and the peephole term), and goes through its activation; the cell becomes
//! `f·c + i·g` (with CIFG, `i = 1 − f`), clipped when `cell_clip > 0`; the output is
//! `o · act(c)`, projected (and clipped) when there are projection weights.

/// The weights and biases of one LSTM, each row-major `[rows, cols]`; `None` for the
/// optional ones (no input gate = CIFG, no peephole, no projection).
pub struct LstmWeights<'a> {
    pub input_to_input: Option<&'a [f32]>,
    pub input_to_forget: &'a [f32],
    pub input_to_cell: &'a [f32],
    pub input_to_output: &'a [f32],
    pub recurrent_to_input: Option<&'a [f32]>,
    pub recurrent_to_forget: &'a [f32],
    pub recurrent_to_cell: &'a [f32],
    pub recurrent_to_output: &'a [f32],
    pub cell_to_input: Option<&'a [f32]>,
    pub cell_to_forget: Option<&'a [f32]>,
    pub cell_to_output: Option<&'a [f32]>,
    pub input_gate_bias: Option<&'a [f32]>,
    pub forget_gate_bias: &'a [f32],
    pub cell_gate_bias: &'a [f32],
    pub output_gate_bias: &'a [f32],
    pub projection: Option<&'a [f32]>,
    pub projection_bias: Option<&'a [f32]>,
}

/// The sizes and options of one LSTM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmShape {
    pub input: usize,
    pub cell: usize,
    pub output: usize,
    /// The cell-update and output activation: `Some(bounds)` for a clamp (RELU, RELU6,
    /// RELU_N1_TO_1), `None` for TANH.
    pub clamp: Option<(f32, f32)>,
    pub cell_clip: f32,
    pub proj_clip: f32,
}

/// Scratch for one step: four gates of `cell` values each.
pub struct LstmScratch {
    pub input_gate: Vec<f32>,
    pub forget_gate: Vec<f32>,
    pub cell_gate: Vec<f32>,
    pub output_gate: Vec<f32>,
}

impl LstmScratch {
    pub fn new(cell: usize) -> LstmScratch {
        LstmScratch {
            input_gate: vec![0.0; cell],
            forget_gate: vec![0.0; cell],
            cell_gate: vec![0.0; cell],
            output_gate: vec![0.0; cell],
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `gate = bias + W·x + R·h (+ p ⊙ c)`, the products each summed on their own before
/// being added, as `MatrixBatchVectorMultiplyAccumulate` does.
#[allow(clippy::too_many_arguments)]
fn gate(
    out: &mut [f32],
    bias: &[f32],
    input_weights: &[f32],
    x: &[f32],
    recurrent_weights: &[f32],
    h: &[f32],
    peephole: Option<(&[f32], &[f32])>,
) {
    out.copy_from_slice(bias);
    for (r, o) in out.iter_mut().enumerate() {
        let row = &input_weights[r * x.len()..][..x.len()];
        let dot = row.iter().zip(x).fold(0.0f32, |a, (w, v)| a + w * v);
        *o += dot;
    }
    for (r, o) in out.iter_mut().enumerate() {
        let row = &recurrent_weights[r * h.len()..][..h.len()];
        let dot = row.iter().zip(h).fold(0.0f32, |a, (w, v)| a + w * v);
        *o += dot;
    }
    if let Some((p, c)) = peephole {
        for ((o, p), c) in out.iter_mut().zip(p).zip(c) {
            *o += p * c;
        }
    }
}

fn activate(values: &mut [f32], clamp: Option<(f32, f32)>) {
    match clamp {
        None => values.iter_mut().for_each(|v| *v = v.tanh()),
        Some(bounds) => crate::kernels::common::apply_vector_activation(values, Some(bounds)),
    }
}

/// One step for one batch row: reads `x` (`input` values), updates `h` (`output`
/// values) and `c` (`cell` values) in place.
pub fn lstm_step_f32(
    s: LstmShape,
    w: &LstmWeights<'_>,
    x: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    g: &mut LstmScratch,
) {
    let cifg = w.input_to_input.is_none();
    if let (Some(wi), Some(ri), Some(bi)) =
        (w.input_to_input, w.recurrent_to_input, w.input_gate_bias)
    {
        gate(
            &mut g.input_gate,
            bi,
            wi,
            x,
            ri,
            h,
            w.cell_to_input.map(|p| (p, &*c)),
        );
        g.input_gate.iter_mut().for_each(|v| *v = sigmoid(*v));
    }
    gate(
        &mut g.forget_gate,
        w.forget_gate_bias,
        w.input_to_forget,
        x,
        w.recurrent_to_forget,
        h,
        w.cell_to_forget.map(|p| (p, &*c)),
    );
    g.forget_gate.iter_mut().for_each(|v| *v = sigmoid(*v));
    gate(
        &mut g.cell_gate,
        w.cell_gate_bias,
        w.input_to_cell,
        x,
        w.recurrent_to_cell,
        h,
        None,
    );
    activate(&mut g.cell_gate, s.clamp);

    for (k, ck) in c.iter_mut().enumerate() {
        let f = g.forget_gate[k];
        let i = if cifg { 1.0 - f } else { g.input_gate[k] };
        *ck = *ck * f + g.cell_gate[k] * i;
        if s.cell_clip > 0.0 {
            *ck = ck.clamp(-s.cell_clip, s.cell_clip);
        }
    }

    // The output gate's peephole sees the updated cell.
    gate(
        &mut g.output_gate,
        w.output_gate_bias,
        w.input_to_output,
        x,
        w.recurrent_to_output,
        h,
        w.cell_to_output.map(|p| (p, &*c)),
    );
    g.output_gate.iter_mut().for_each(|v| *v = sigmoid(*v));

    // The activated cell times the output gate, reusing the input gate as scratch.
    let hidden = &mut g.input_gate;
    hidden.copy_from_slice(c);
    activate(hidden, s.clamp);
    for (v, o) in hidden.iter_mut().zip(&g.output_gate) {
        *v *= o;
    }
    match w.projection {
        Some(p) => {
            for (r, out) in h.iter_mut().enumerate() {
                let row = &p[r * s.cell..][..s.cell];
                let dot = row
                    .iter()
                    .zip(hidden.iter())
                    .fold(0.0f32, |a, (w, v)| a + w * v);
                *out = w.projection_bias.map_or(0.0, |b| b[r]) + dot;
                if s.proj_clip > 0.0 {
                    *out = out.clamp(-s.proj_clip, s.proj_clip);
                }
            }
        }
        None => h.copy_from_slice(&hidden[..s.output]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One cell, one input, no projection: every gate worked out by hand.
    #[test]
    fn one_cell_by_hand() {
        // Input weights 1, recurrent 0.5 for every gate; biases 0 except forget 1.
        let one = [1.0f32];
        let half = [0.5f32];
        let w = LstmWeights {
            input_to_input: Some(&one),
            input_to_forget: &one,
            input_to_cell: &one,
            input_to_output: &one,
            recurrent_to_input: Some(&half),
            recurrent_to_forget: &half,
            recurrent_to_cell: &half,
            recurrent_to_output: &half,
            cell_to_input: None,
            cell_to_forget: None,
            cell_to_output: None,
            input_gate_bias: Some(&[0.0]),
            forget_gate_bias: &[1.0],
            cell_gate_bias: &[0.0],
            output_gate_bias: &[0.0],
            projection: None,
            projection_bias: None,
        };
        let s = LstmShape {
            input: 1,
            cell: 1,
            output: 1,
            clamp: None,
            cell_clip: 0.0,
            proj_clip: 0.0,
        };
        let (mut h, mut c) = ([0.2f32], [0.4f32]);
        let mut g = LstmScratch::new(1);
        lstm_step_f32(s, &w, &[0.3], &mut h, &mut c, &mut g);
        // pre-activations: i = o = 0.3 + 0.1 = 0.4, f = 1.4, g = 0.4.
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let c_want = sig(1.4) * 0.4 + sig(0.4) * 0.4f64.tanh();
        let h_want = sig(0.4) * c_want.tanh();
        assert!((f64::from(c[0]) - c_want).abs() < 1e-6, "{c:?} vs {c_want}");
        assert!((f64::from(h[0]) - h_want).abs() < 1e-6, "{h:?} vs {h_want}");
    }

    /// CIFG (no input gate: i = 1 - f), a cell clip, and a projection to two outputs.
    #[test]
    fn cifg_clip_and_projection() {
        let w = LstmWeights {
            input_to_input: None,
            input_to_forget: &[0.0],
            input_to_cell: &[10.0],
            input_to_output: &[0.0],
            recurrent_to_input: None,
            recurrent_to_forget: &[0.0, 0.0],
            recurrent_to_cell: &[0.0, 0.0],
            recurrent_to_output: &[0.0, 0.0],
            cell_to_input: None,
            cell_to_forget: None,
            cell_to_output: None,
            input_gate_bias: None,
            forget_gate_bias: &[0.0],
            cell_gate_bias: &[0.0],
            output_gate_bias: &[0.0],
            projection: Some(&[2.0, -3.0]),
            projection_bias: Some(&[1.0, 0.0]),
        };
        let s = LstmShape {
            input: 1,
            cell: 1,
            output: 2,
            clamp: Some((0.0, f32::INFINITY)),
            cell_clip: 0.25,
            proj_clip: 0.5,
        };
        let (mut h, mut c) = ([0.0f32, 0.0], [1.0f32]);
        let mut g = LstmScratch::new(1);
        lstm_step_f32(s, &w, &[1.0], &mut h, &mut c, &mut g);
        // f = o = 0.5, i = 1 - f = 0.5, g = relu(10) = 10: c = 0.5 + 5 → clipped 0.25;
        // hidden = 0.5 * relu(0.25) = 0.125; projection (1 + 0.25, -0.375) → clip 0.5.
        assert_eq!(c, [0.25]);
        assert_eq!(h, [0.5, -0.375]);
    }
}
