//! What `ferrolite verify` decides: does the built-in interpreter compute what an
//! independent runtime computes?
//!
//! First the whole model goes through tract (the file itself, or its lowered twin, see
//! [`super::lower`]). When tract cannot run it, when the twin is not the same function
//! (hybrid ops given float weights) or when the two disagree, every operator that runs
//! per inference is checked on its own: it gets the inputs ferrolite computed for it, so
//! a difference belongs to that operator and not to everything before it, and the first
//! operator whose output differs is named with both values. QUANTIZE and DEQUANTIZE,
//! which tract-tflite lacks, are checked against their defining formula instead.
//! An operator neither can check is named, and the answer is "incomplete", never a
//! silent pass.

use std::collections::HashMap;

use super::lower::{self, Lowering};
use super::tract::{TractRunner, TRACT_LACKS};
use super::{TractSetup, VerifyError};
use crate::interp::{Plan, Value};
use crate::ir::{DType, Model, Op, Operator, Tensor};

/// How far apart two outputs may be.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Tolerance {
    /// Absolute part for float elements.
    pub abs: f64,
    /// Part relative to the other runtime's value, for float elements.
    pub rel: f64,
    /// Quantized steps for int8/uint8/int16 elements (other integers must be equal).
    pub steps: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything checked agrees and nothing was left unchecked.
    Agree,
    /// At least one operator (or the whole model) differs beyond the tolerance.
    Disagree,
    /// No difference found, but some operators could not be checked.
    Incomplete,
}

/// Who computed the value ferrolite's output is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Checker {
    /// tract, on the operator as written or an exact lowering of it.
    Tract,
    /// tract, on a hybrid operator given its int8 weights as float32; the tolerance
    /// adds the largest error the hybrid kernel's input rounding can cause.
    TractFloatWeights,
    /// The operator's defining formula (QUANTIZE, DEQUANTIZE), computed here.
    Formula,
    /// What the operator means on real numbers (inputs dequantized, the result computed
    /// in f64 and, for a quantized output, rounded to the output's grid), for
    /// elementwise and reduction ops tract cannot check.
    RealArithmetic,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Checker::Tract => "tract",
            Checker::TractFloatWeights => "tract (float weights)",
            Checker::Formula => "formula",
            Checker::RealArithmetic => "real arithmetic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    Agree,
    Disagree,
    NotChecked,
}

/// One element where ferrolite and the checker differ the most (beyond the allowance
/// when any does).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Element {
    pub tensor: String,
    pub index: Vec<usize>,
    pub ferrolite: f64,
    pub other: f64,
    /// The largest difference allowed at this element.
    pub allowed: f64,
}

/// Element-wise comparison of one set of outputs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    pub max_abs: f64,
    /// Largest |a−b| / max(|a|,|b|) over elements where that denominator is nonzero.
    pub max_rel: f64,
    pub elements: usize,
    pub outside_tolerance: usize,
    /// The element furthest beyond its allowance (or closest to it when none is beyond).
    pub worst: Option<Element>,
}

/// The check of one operator on ferrolite's own inputs to it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OpCheck {
    /// Index in the model's operator list.
    pub operator: usize,
    pub op: &'static str,
    pub status: OpStatus,
    pub checked_by: Option<Checker>,
    /// Why it could not be checked, or (checked by a formula) why not by tract.
    pub reason: Option<String>,
    /// The tolerance in words.
    pub tolerance: Option<String>,
    pub comparison: Option<Comparison>,
}

/// The whole model through tract.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WholeModel {
    pub setup: TractSetup,
    pub comparison: Comparison,
    /// Outputs compared in quantized steps.
    pub integer: bool,
    /// False when tract ran a twin with hybrid ops given float weights (the difference
    /// then includes the input rounding the float twin skips, compounded through later
    /// layers) or a model with ops tract is known to compute wrongly: the difference
    /// is reported but decides nothing.
    pub exact: bool,
    pub agree: bool,
}

/// Everything `verify` found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CrossCheck {
    pub verdict: Verdict,
    pub whole: Option<WholeModel>,
    /// Why tract could not run the whole model.
    pub whole_error: Option<String>,
    /// Operator by operator, in execution order (empty when the whole model agreed
    /// exactly and no per-operator check was asked for).
    pub ops: Vec<OpCheck>,
}

impl CrossCheck {
    /// The first operator, in execution order, whose output differs.
    pub fn first_difference(&self) -> Option<&OpCheck> {
        self.ops.iter().find(|o| o.status == OpStatus::Disagree)
    }

    /// Operators nobody could check.
    pub fn unchecked(&self) -> impl Iterator<Item = &OpCheck> {
        self.ops.iter().filter(|o| o.status == OpStatus::NotChecked)
    }
}

/// Checks ferrolite against tract (and formulas) on `inputs`. With `each_op`, the
/// operators are checked one by one even when the whole model agrees.
pub fn cross_check(
    model: &Model,
    bytes: &[u8],
    inputs: &[Value],
    tol: &Tolerance,
    each_op: bool,
) -> Result<CrossCheck, VerifyError> {
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    let mut plan = Plan::new(model, &shapes)?;
    let ours = plan.run(inputs)?;
    let (whole, whole_error) = match whole_model(model, bytes, &shapes, inputs, &ours, tol) {
        Ok(w) => (Some(w), None),
        Err(VerifyError::Tract(m)) => (None, Some(m)),
        Err(e) => return Err(e),
    };
    let settled = whole.as_ref().is_some_and(|w| w.exact && w.agree);
    let ops = if each_op || !settled {
        let values = all_values(model, &plan, inputs)?;
        plan.step_operators()
            .into_iter()
            .map(|i| check_op(model, &plan, i, &values, tol))
            .collect()
    } else {
        Vec::new()
    };
    let verdict = if ops.iter().any(|o| o.status == OpStatus::Disagree) {
        Verdict::Disagree
    } else if settled || ops.iter().all(|o| o.status == OpStatus::Agree) {
        Verdict::Agree
    } else {
        Verdict::Incomplete
    };
    Ok(CrossCheck {
        verdict,
        whole,
        whole_error,
        ops,
    })
}

fn whole_model(
    model: &Model,
    bytes: &[u8],
    shapes: &[Vec<usize>],
    inputs: &[Value],
    ours: &[Value],
    tol: &Tolerance,
) -> Result<WholeModel, VerifyError> {
    let (mut runner, setup) = super::tract_for(bytes, model, shapes)?;
    let theirs = runner.run(inputs)?;
    let exact =
        setup.lowering.as_ref().is_none_or(Lowering::is_exact) && setup.tract_faults.is_empty();
    let integer = ours.iter().all(|v| !is_float(v.dtype()));
    let names: Vec<String> = model
        .graph
        .outputs
        .iter()
        .map(|&t| model.graph.tensors[t].name.clone())
        .collect();
    let comparison = compare(ours, &theirs, &names, |k, _, other| {
        allowance(ours[k].dtype(), other, tol)
    })?;
    let agree = comparison.outside_tolerance == 0;
    Ok(WholeModel {
        setup,
        comparison,
        integer,
        exact,
        agree,
    })
}

fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F16)
}

/// The largest difference allowed for an element of `dtype` whose checked value is
/// `other`.
fn allowance(dtype: DType, other: f64, tol: &Tolerance) -> f64 {
    match dtype {
        DType::F32 | DType::F16 => tol.abs + tol.rel * other.abs(),
        DType::I8 | DType::U8 | DType::I16 => tol.steps,
        _ => 0.0,
    }
}

fn tolerance_text(dtype: DType, tol: &Tolerance) -> String {
    match dtype {
        DType::F32 | DType::F16 => format!("{:e} + {:e}·|x|", tol.abs, tol.rel),
        DType::I8 | DType::U8 | DType::I16 => {
            format!(
                "{} quantized step{}",
                tol.steps,
                if tol.steps == 1.0 { "" } else { "s" }
            )
        }
        _ => "equal".to_string(),
    }
}

/// Running totals of an element-wise comparison.
struct Tally {
    c: Comparison,
    worst_excess: f64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            c: Comparison {
                max_abs: 0.0,
                max_rel: 0.0,
                elements: 0,
                outside_tolerance: 0,
                worst: None,
            },
            worst_excess: f64::NEG_INFINITY,
        }
    }

    /// Adds ferrolite's `p` against the checker's `q`, allowed to differ by `limit`.
    fn add(&mut self, p: f64, q: f64, limit: f64, at: impl FnOnce() -> (String, Vec<usize>)) {
        let c = &mut self.c;
        let abs = (p - q).abs();
        let abs = if abs.is_nan() { f64::INFINITY } else { abs };
        let denom = p.abs().max(q.abs());
        if denom > 0.0 {
            c.max_rel = c.max_rel.max(abs / denom);
        }
        c.max_abs = c.max_abs.max(abs);
        if abs > limit {
            c.outside_tolerance += 1;
        }
        if abs - limit > self.worst_excess {
            self.worst_excess = abs - limit;
            let (tensor, index) = at();
            c.worst = Some(Element {
                tensor,
                index,
                ferrolite: p,
                other: q,
                allowed: limit,
            });
        }
        c.elements += 1;
    }
}

/// Compares `ours` with `theirs` element by element; `allowed(output, flat index,
/// their value)` is each element's allowance.
fn compare(
    ours: &[Value],
    theirs: &[Value],
    names: &[String],
    allowed: impl Fn(usize, usize, f64) -> f64,
) -> Result<Comparison, VerifyError> {
    if ours.len() != theirs.len() {
        return Err(VerifyError::Structure(format!(
            "{} outputs vs {}",
            ours.len(),
            theirs.len()
        )));
    }
    let mut tally = Tally::new();
    for (k, (x, y)) in ours.iter().zip(theirs).enumerate() {
        if x.data.len() != y.data.len() {
            return Err(VerifyError::Structure(format!(
                "output {k} has {} elements vs {} (shapes {:?} and {:?})",
                x.data.len(),
                y.data.len(),
                x.shape,
                y.shape
            )));
        }
        for (i, (p, q)) in x.data.to_f64().into_iter().zip(y.data.to_f64()).enumerate() {
            tally.add(p, q, allowed(k, i, q), || {
                (
                    names.get(k).cloned().unwrap_or_default(),
                    unravel(i, &x.shape),
                )
            });
        }
    }
    Ok(tally.c)
}

/// Like [`compare`] for one output against reference values given as f64.
fn compare_f64(
    ours: &Value,
    expected: &[f64],
    name: &str,
    allowed: impl Fn(f64) -> f64,
) -> Comparison {
    let mut tally = Tally::new();
    for (i, (p, &q)) in ours.data.to_f64().into_iter().zip(expected).enumerate() {
        tally.add(p, q, allowed(q), || {
            (name.to_string(), unravel(i, &ours.shape))
        });
    }
    tally.c
}

/// The multi-dimensional index of flat index `i` in `shape` (row-major).
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = i % d;
            i /= d;
        }
    }
    index
}

/// Every tensor ferrolite computes for `inputs`: the graph's inputs and each running
/// operator's outputs, by tensor index (one run of the model with all of them made
/// outputs, so the arena keeps them).
fn all_values(
    model: &Model,
    plan: &Plan,
    inputs: &[Value],
) -> Result<HashMap<usize, Value>, VerifyError> {
    let mut wide = model.clone();
    let mut outputs = model.graph.outputs.clone();
    for i in plan.step_operators() {
        for &t in &model.graph.operators[i].outputs {
            if !outputs.contains(&t) {
                outputs.push(t);
            }
        }
    }
    wide.graph.outputs = outputs.clone();
    wide.signature = None;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    let values = Plan::new(&wide, &shapes)?.run(inputs)?;
    let mut map: HashMap<usize, Value> = outputs.into_iter().zip(values).collect();
    for (&t, v) in model.graph.inputs.iter().zip(inputs) {
        map.insert(t, v.clone());
    }
    Ok(map)
}

fn not_checked(operator: usize, op: &'static str, reason: String) -> OpCheck {
    OpCheck {
        operator,
        op,
        status: OpStatus::NotChecked,
        checked_by: None,
        reason: Some(reason),
        tolerance: None,
        comparison: None,
    }
}

fn check_op(
    model: &Model,
    plan: &Plan,
    i: usize,
    values: &HashMap<usize, Value>,
    tol: &Tolerance,
) -> OpCheck {
    let op = &model.graph.operators[i];
    let name = op.op.name();
    let mut why_not_tract = None;
    let result = match op.op {
        Op::Quantize | Op::Dequantize => check_formula(model, plan, op, values, tol),
        _ => check_with_tract(model, plan, i, values, tol).or_else(|why| {
            match check_real(model, plan, op, values, tol) {
                Some(checked) => {
                    why_not_tract = Some(why);
                    checked
                }
                None => Err(why),
            }
        }),
    };
    match result {
        Ok((checker, tolerance, comparison)) => OpCheck {
            operator: i,
            op: name,
            status: if comparison.outside_tolerance == 0 {
                OpStatus::Agree
            } else {
                OpStatus::Disagree
            },
            checked_by: Some(checker),
            reason: why_not_tract,
            tolerance: Some(tolerance),
            comparison: Some(comparison),
        },
        Err(reason) => not_checked(i, name, reason),
    }
}

type Checked = (Checker, String, Comparison);

fn value_of(values: &HashMap<usize, Value>, t: usize) -> Result<&Value, String> {
    values
        .get(&t)
        .ok_or_else(|| format!("tensor {t} was not computed"))
}

fn output_names(model: &Model, op: &Operator) -> Vec<String> {
    op.outputs
        .iter()
        .map(|&t| model.graph.tensors[t].name.clone())
        .collect()
}

/// QUANTIZE and DEQUANTIZE against their definitions (TFLite's reference kernels):
/// float → int: q = clamp(round(x / s) + zp) with f32 division and rounding half away
/// from zero; int → int: q = clamp(round((q_in − zp_in) · s_in / s_out) + zp_out);
/// int → float: x = s · (q − zp); float16 → float32: the same number.
fn check_formula(
    model: &Model,
    plan: &Plan,
    op: &Operator,
    values: &HashMap<usize, Value>,
    tol: &Tolerance,
) -> Result<Checked, String> {
    let (Some(x), Some(&y)) = (op.input(0), op.outputs.first()) else {
        return Err("operator without input or output".into());
    };
    let info = |t: usize| {
        plan.tensor_info(t)
            .ok_or_else(|| format!("tensor {t} was not planned"))
    };
    let (x_info, y_info) = (info(x)?, info(y)?);
    let ours = value_of(values, y)?;
    let input = match &x_info.constant {
        Some(c) => Value::new(x_info.shape.clone(), (**c).clone()),
        None => value_of(values, x)?.clone(),
    };
    let per_tensor = |i: &crate::ops::exec::TensorInfo| {
        i.scale_zero_point()
            .ok_or_else(|| format!("'{}' has no per-tensor scale and zero point", i.name))
    };
    let range = |dtype: DType| match dtype {
        DType::I8 => Ok((-128.0, 127.0)),
        DType::U8 => Ok((0.0, 255.0)),
        DType::I16 => Ok((-32768.0, 32767.0)),
        other => Err(format!("no formula for {other} here")),
    };
    let xs = input.data.to_f64();
    let expected: Vec<f64> = match (x_info.dtype, y_info.dtype) {
        (DType::F32, q) if !is_float(q) => {
            let (s, zp) = per_tensor(y_info)?;
            let (lo, hi) = range(q)?;
            xs.iter()
                .map(|&v| ((v as f32 / s).round() as f64 + zp as f64).clamp(lo, hi))
                .collect()
        }
        (p, q) if !is_float(p) && !is_float(q) => {
            let ((s_in, zp_in), (s_out, zp_out)) = (per_tensor(x_info)?, per_tensor(y_info)?);
            let (lo, hi) = range(q)?;
            let ratio = f64::from(s_in) / f64::from(s_out);
            xs.iter()
                .map(|&v| (((v - zp_in as f64) * ratio).round() + zp_out as f64).clamp(lo, hi))
                .collect()
        }
        (DType::F16, DType::F32) => xs,
        (p, DType::F32) => {
            range(p)?;
            let (s, zp) = per_tensor(x_info)?;
            xs.iter().map(|&v| f64::from(s) * (v - zp as f64)).collect()
        }
        (p, q) => return Err(format!("no formula for {p} → {q}")),
    };
    let name = &model.graph.tensors[y].name;
    let comparison = compare_f64(ours, &expected, name, |other| {
        allowance(y_info.dtype, other, tol)
    });
    Ok((
        Checker::Formula,
        tolerance_text(y_info.dtype, tol),
        comparison,
    ))
}

/// The real-number reference of an elementwise or reduction operator, when it has one
/// here: `None` for other operators. TFLite's integer kernels approximate these
/// functions in fixed point, so a quantized output is allowed `tol.steps` steps from the
/// exactly rounded real result; float outputs get the float tolerance.
fn check_real(
    model: &Model,
    plan: &Plan,
    op: &Operator,
    values: &HashMap<usize, Value>,
    tol: &Tolerance,
) -> Option<Result<Checked, String>> {
    use crate::ir::Activation;
    let &y = op.outputs.first()?;
    let y_info = plan.tensor_info(y)?;
    let ours = values.get(&y)?;
    let mut inputs = Vec::new();
    for t in op.inputs.iter().flatten() {
        let info = plan.tensor_info(*t)?;
        let value = match &info.constant {
            Some(c) => Value::new(info.shape.clone(), (**c).clone()),
            None => values.get(t)?.clone(),
        };
        let real: Vec<f64> = match (is_float(info.dtype), info.scale_zero_point()) {
            (true, _) => value.data.to_f64(),
            (false, Some((s, zp))) if info.dtype != DType::I32 => value
                .data
                .to_f64()
                .iter()
                .map(|&q| f64::from(s) * (q - zp as f64))
                .collect(),
            _ => value.data.to_f64(),
        };
        inputs.push((real, value.shape.clone()));
    }
    let fused = |v: f64, a: Activation| match a {
        Activation::None => Some(v),
        Activation::Relu => Some(v.max(0.0)),
        Activation::Relu6 => Some(v.clamp(0.0, 6.0)),
        Activation::ReluN1To1 => Some(v.clamp(-1.0, 1.0)),
        _ => None,
    };
    let out_shape = &ours.shape;
    let binary = |f: fn(f64, f64) -> f64, a: Activation| -> Option<Vec<f64>> {
        let [(x, xs), (z, zs)] = &inputs[..] else {
            return None;
        };
        let n: usize = out_shape.iter().product();
        (0..n)
            .map(|i| {
                let at = unravel(i, out_shape);
                let (p, q) = (broadcast_at(&at, xs)?, broadcast_at(&at, zs)?);
                fused(f(*x.get(p)?, *z.get(q)?), a)
            })
            .collect()
    };
    let unary = |f: &dyn Fn(f64) -> f64| -> Option<Vec<f64>> {
        Some(inputs.first()?.0.iter().map(|&v| f(v)).collect())
    };
    let expected: Vec<f64> = match &op.op {
        Op::Add { activation } => binary(|a, b| a + b, *activation)?,
        Op::Sub { activation } => binary(|a, b| a - b, *activation)?,
        Op::Mul { activation } => binary(|a, b| a * b, *activation)?,
        Op::Div { activation } => binary(|a, b| a / b, *activation)?,
        Op::Tanh => unary(&f64::tanh)?,
        Op::Logistic => unary(&|v| 1.0 / (1.0 + (-v).exp()))?,
        Op::Relu => unary(&|v| v.max(0.0))?,
        Op::Relu6 => unary(&|v| v.clamp(0.0, 6.0))?,
        Op::LeakyRelu { alpha } => {
            let alpha = f64::from(*alpha);
            unary(&|v| if v >= 0.0 { v } else { alpha * v })?
        }
        Op::HardSwish => unary(&|v| v * (v + 3.0).clamp(0.0, 6.0) / 6.0)?,
        Op::ReluN1To1 => unary(&|v| v.clamp(-1.0, 1.0))?,
        Op::Relu0To1 => unary(&|v| v.clamp(0.0, 1.0))?,
        Op::Abs => unary(&f64::abs)?,
        Op::Neg => unary(&|v| -v)?,
        Op::Square => unary(&|v| v * v)?,
        Op::Sqrt => unary(&f64::sqrt)?,
        Op::Rsqrt => unary(&|v| 1.0 / v.sqrt())?,
        Op::Exp => unary(&f64::exp)?,
        Op::Log => unary(&f64::ln)?,
        Op::Floor => unary(&f64::floor)?,
        Op::Elu => unary(&|v| if v < 0.0 { v.exp_m1() } else { v })?,
        Op::Gelu { approximate: false } => {
            let erfc = crate::kernels::reference::unary::erfc;
            unary(&|v| 0.5 * v * erfc(-v * std::f64::consts::FRAC_1_SQRT_2))?
        }
        Op::Gelu { approximate: true } => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            unary(&|v| 0.5 * v * (1.0 + (k * (v + 0.044715 * v * v * v)).tanh()))?
        }
        Op::Maximum => binary(f64::max, Activation::None)?,
        Op::Minimum => binary(f64::min, Activation::None)?,
        Op::SquaredDifference => binary(|a, b| (a - b) * (a - b), Activation::None)?,
        Op::Pow => binary(f64::powf, Activation::None)?,
        Op::Softmax { beta } => {
            let (x, xs) = inputs.first()?;
            let width = *xs.last()?;
            if width == 0 {
                return None;
            }
            let beta = f64::from(*beta);
            x.chunks(width)
                .flat_map(|row| {
                    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = row.iter().map(|&v| (beta * (v - max)).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    e.into_iter().map(move |v| v / sum)
                })
                .collect()
        }
        Op::Mean { .. } => {
            let [(x, xs), (axes, _)] = &inputs[..] else {
                return None;
            };
            let rank = xs.len() as i64;
            let axes: Vec<usize> = axes
                .iter()
                .map(|&a| {
                    let a = a as i64;
                    usize::try_from(if a < 0 { a + rank } else { a }).ok()
                })
                .collect::<Option<_>>()?;
            let kept: Vec<usize> = xs
                .iter()
                .enumerate()
                .map(|(d, &n)| if axes.contains(&d) { 1 } else { n })
                .collect();
            let n_out: usize = kept.iter().product();
            if n_out != out_shape.iter().product::<usize>() || n_out == 0 {
                return None;
            }
            let count = (x.len() / n_out) as f64;
            let mut sums = vec![0.0; n_out];
            for (i, &v) in x.iter().enumerate() {
                let mut at = unravel(i, xs);
                for &a in &axes {
                    at[a] = 0;
                }
                sums[ravel(&at, &kept)] += v;
            }
            sums.into_iter().map(|s| s / count).collect()
        }
        _ => return None,
    };
    if expected.len() != ours.data.len() {
        return None;
    }
    let name = &model.graph.tensors[y].name;
    let (expected, text) = if is_float(y_info.dtype) {
        (expected, tolerance_text(y_info.dtype, tol))
    } else {
        let Some((s, zp)) = y_info.scale_zero_point() else {
            return Some(Err(format!(
                "'{name}' has no per-tensor scale and zero point"
            )));
        };
        let (lo, hi) = match y_info.dtype {
            DType::I8 => (-128.0, 127.0),
            DType::U8 => (0.0, 255.0),
            DType::I16 => (-32768.0, 32767.0),
            _ => return None,
        };
        (
            expected
                .iter()
                .map(|&v| ((v / f64::from(s)).round() + zp as f64).clamp(lo, hi))
                .collect(),
            format!(
                "{} of the exactly rounded result",
                tolerance_text(y_info.dtype, tol)
            ),
        )
    };
    let comparison = compare_f64(ours, &expected, name, |other| {
        allowance(y_info.dtype, other, tol)
    });
    Some(Ok((Checker::RealArithmetic, text, comparison)))
}

/// The flat index, in an input of shape `shape`, that numpy-style broadcasting reads
/// for output index `at` (dimensions aligned on the right; size-1 dimensions repeat).
fn broadcast_at(at: &[usize], shape: &[usize]) -> Option<usize> {
    let skip = at.len().checked_sub(shape.len())?;
    let index: Vec<usize> = at[skip..]
        .iter()
        .zip(shape)
        .map(|(&i, &d)| if d == 1 { 0 } else { i })
        .collect();
    Some(ravel(&index, shape))
}

/// The row-major flat index of `index` in `shape`.
fn ravel(index: &[usize], shape: &[usize]) -> usize {
    index
        .iter()
        .zip(shape)
        .fold(0, |flat, (&i, &d)| flat * d + i)
}

/// One operator through tract: a model holding only it, its constant inputs (plan-time
/// results included) as constants, its other inputs fed with ferrolite's values, lowered
/// for tract like the whole model.
fn check_with_tract(
    model: &Model,
    plan: &Plan,
    i: usize,
    values: &HashMap<usize, Value>,
    tol: &Tolerance,
) -> Result<Checked, String> {
    let op = &model.graph.operators[i];
    let (single, fed) = isolate(model, plan, i, values)?;
    let inputs: Vec<Value> = fed
        .iter()
        .map(|&t| value_of(values, t).cloned())
        .collect::<Result<_, _>>()?;
    let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
    let single_plan = Plan::new(&single, &shapes).map_err(|e| format!("cannot isolate it: {e}"))?;
    let (twin, lowering) =
        lower::lower(&single, &single_plan).map_err(|e| format!("cannot lower it: {e}"))?;
    if let Some(lacking) = twin
        .graph
        .operators
        .iter()
        .map(|o| o.op.name())
        .find(|n| TRACT_LACKS.contains(n))
    {
        return Err(format!("tract-tflite has no {lacking} op"));
    }
    if let Some(fault) = twin
        .graph
        .operators
        .iter()
        .find_map(|o| super::tract::known_fault(&twin.graph, o))
    {
        return Err(fault);
    }
    let bytes = crate::tflite::write(&twin).map_err(|e| format!("cannot write it: {e}"))?;
    let short = |e: VerifyError| match e {
        VerifyError::Tract(m) => m,
        other => other.to_string(),
    };
    let mut runner = TractRunner::new(&bytes, &shapes).map_err(short)?;
    let theirs = runner.run(&inputs).map_err(short)?;
    let ours: Vec<Value> = op
        .outputs
        .iter()
        .map(|&t| value_of(values, t).cloned())
        .collect::<Result<_, _>>()?;
    let names = output_names(model, op);
    let dtypes: Vec<DType> = ours.iter().map(Value::dtype).collect();
    let text = tolerance_text(dtypes.first().copied().unwrap_or(DType::F32), tol);
    if lowering.is_exact() {
        let comparison = compare(&ours, &theirs, &names, |k, _, other| {
            allowance(dtypes[k], other, tol)
        })
        .map_err(|e| e.to_string())?;
        return Ok((Checker::Tract, text, comparison));
    }
    let bound = hybrid_bound(model, op, values)?;
    let comparison = compare(&ours, &theirs, &names, |k, flat, other| {
        allowance(dtypes[k], other, tol) + bound.at(flat)
    })
    .map_err(|e| e.to_string())?;
    Ok((
        Checker::TractFloatWeights,
        format!(
            "{text} + ½·step·Σ|w| for the hybrid input rounding, ≤ {:.2e}",
            bound.max()
        ),
        comparison,
    ))
}

/// A model of operator `i` alone. Returns it and the original tensor index of each of
/// its graph inputs.
fn isolate(
    model: &Model,
    plan: &Plan,
    i: usize,
    values: &HashMap<usize, Value>,
) -> Result<(Model, Vec<usize>), String> {
    let op = &model.graph.operators[i];
    let mut tensors: Vec<Tensor> = Vec::new();
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut fed = Vec::new();
    let mut take = |t: usize, tensors: &mut Vec<Tensor>| -> Result<usize, String> {
        if let Some(&k) = index.get(&t) {
            return Ok(k);
        }
        let mut tensor = model.graph.tensors[t].clone();
        let constant = plan.tensor_info(t).and_then(|info| info.constant.clone());
        match (&tensor.data, constant, values.get(&t)) {
            (Some(_), _, _) => {}
            (None, Some(c), _) => {
                let info = plan.tensor_info(t).ok_or("unplanned tensor")?;
                tensor.data = Some(c.to_le_bytes());
                tensor.dtype = info.dtype;
                tensor.shape = info.shape.clone();
                tensor.shape_signature = None;
            }
            (None, None, Some(v)) => {
                tensor.shape = v.shape.clone();
                tensor.shape_signature = None;
            }
            (None, None, None) => return Err(format!("tensor {t} was not computed")),
        }
        tensors.push(tensor);
        index.insert(t, tensors.len() - 1);
        Ok(tensors.len() - 1)
    };
    let mut inputs = Vec::with_capacity(op.inputs.len());
    for t in &op.inputs {
        inputs.push(match t {
            Some(t) => Some(take(*t, &mut tensors)?),
            None => None,
        });
    }
    let mut outputs = Vec::new();
    for &t in &op.outputs {
        outputs.push(take(t, &mut tensors)?);
    }
    let mut graph_inputs = Vec::new();
    for (t, k) in op.inputs.iter().flatten().zip(inputs.iter().flatten()) {
        if tensors[*k].data.is_none() && !graph_inputs.contains(k) {
            graph_inputs.push(*k);
            fed.push(*t);
        }
    }
    let graph = crate::ir::Graph {
        name: None,
        tensors,
        inputs: graph_inputs,
        outputs: outputs.clone(),
        operators: vec![Operator {
            op: op.op.clone(),
            inputs,
            outputs,
        }],
    };
    Ok((Model::with_default_signature(graph), fed))
}

/// The largest output error a hybrid operator's input rounding can cause, per output
/// channel. Each input element is rounded to the nearest point of its row's int8 grid,
/// so it moves by at most half a step: symmetric rows (step max|x| / 127) never clamp,
/// and asymmetric rows spread [min(0, x), max(0, x)] over 255 steps with an integer
/// zero point rounded from the exact one, which keeps both ends within half a step of
/// the grid (clamping them loses nothing more). A step is at most max|x| / 127 over the
/// whole input, so output channel c moves by at most ½ · step · Σ|w_c| over its
/// weights (1% added for the float rounding of the scales).
struct HybridBound {
    per_channel: Vec<f64>,
}

impl HybridBound {
    /// The bound at flat output index `flat` (channels are the last dimension).
    fn at(&self, flat: usize) -> f64 {
        match self.per_channel.len() {
            0 => 0.0,
            n => self.per_channel[flat % n],
        }
    }

    fn max(&self) -> f64 {
        self.per_channel.iter().copied().fold(0.0, f64::max)
    }
}

fn hybrid_bound(
    model: &Model,
    op: &Operator,
    values: &HashMap<usize, Value>,
) -> Result<HybridBound, String> {
    let (Some(x), Some(w)) = (op.input(0), op.input(1)) else {
        return Err("hybrid operator without input or weights".into());
    };
    let weights = &model.graph.tensors[w];
    let dequantized = lower::dequantized_weights(weights).map_err(|e| e.to_string())?;
    let step = value_of(values, x)?
        .data
        .to_f64()
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        / 127.0;
    let shape = &weights.shape;
    let per_channel: Vec<f64> = match op.op {
        // [1, kh, kw, channels]: channel is the last index.
        Op::DepthwiseConv2d(_) => {
            let channels = shape.last().copied().unwrap_or(1).max(1);
            let mut sums = vec![0.0; channels];
            for (k, v) in dequantized.iter().enumerate() {
                sums[k % channels] += f64::from(v.abs());
            }
            sums
        }
        // [out, ...]: channel is the first index.
        _ => {
            let channels = shape.first().copied().unwrap_or(1).max(1);
            let per = dequantized.len() / channels;
            dequantized
                .chunks(per.max(1))
                .map(|c| c.iter().map(|v| f64::from(v.abs())).sum())
                .collect()
        }
    };
    Ok(HybridBound {
        per_channel: per_channel.into_iter().map(|s| 0.505 * s * step).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::TensorBuf;

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(0, &[2, 3]), vec![0, 0]);
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
        assert_eq!(unravel(4, &[3, 2]), vec![2, 0]);
    }

    #[test]
    fn broadcasting_repeats_size_one_dimensions() {
        // Output [2, 3]; an input [3] is read by column, [2, 1] by row, [] always.
        assert_eq!(broadcast_at(&[1, 2], &[3]), Some(2));
        assert_eq!(broadcast_at(&[1, 2], &[2, 1]), Some(1));
        assert_eq!(broadcast_at(&[1, 2], &[]), Some(0));
        assert_eq!(broadcast_at(&[1, 2], &[2, 3]), Some(5));
        assert_eq!(ravel(&[1, 0, 1], &[2, 2, 2]), 5);
    }

    #[test]
    fn the_worst_element_is_the_one_furthest_beyond_its_allowance() {
        let a = Value::new(vec![3], TensorBuf::F32(vec![1.0, 2.0, 10.0]));
        let b = Value::new(vec![3], TensorBuf::F32(vec![1.0, 2.5, 10.4]));
        // 0.5 over an allowance of 0.1 beats 0.4 over an allowance of 1.0.
        let c = compare(
            &[a],
            &[b],
            &["t".into()],
            |_, i, _| {
                if i == 2 {
                    1.0
                } else {
                    0.1
                }
            },
        )
        .unwrap();
        assert_eq!(c.outside_tolerance, 1);
        let w = c.worst.unwrap();
        assert_eq!(w.index, vec![1]);
        assert_eq!((w.ferrolite, w.other), (2.0, 2.5));
    }

    fn fixture(dir: &str, name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(dir)
            .join(name)
    }

    fn tol() -> Tolerance {
        Tolerance {
            abs: 1e-4,
            rel: 1e-4,
            steps: 1.0,
        }
    }

    /// A wrong output of one operator is pinned on that operator, with ferrolite's
    /// value and the checker's, whether tract (CONV_2D) or the real-number reference
    /// (int8 ADD, which tract cannot load) checks it.
    #[test]
    fn a_wrong_output_is_named_with_both_values() {
        let model = crate::tflite::read_file(&fixture("extra", "residual_int8.tflite")).unwrap();
        let inputs = super::super::sample_inputs(&model, 1, None).unwrap();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
        let plan = Plan::new(&model, &shapes).unwrap();
        let clean = all_values(&model, &plan, &inputs).unwrap();
        let steps = plan.step_operators();
        for (target, checker) in [
            ("CONV_2D", Checker::Tract),
            ("ADD", Checker::RealArithmetic),
        ] {
            let k = steps
                .iter()
                .position(|&i| model.graph.operators[i].op.name() == target)
                .unwrap();
            let op = steps[k];
            let out = model.graph.operators[op].outputs[0];
            let mut values = clean.clone();
            let TensorBuf::I8(data) = &mut values.get_mut(&out).unwrap().data else {
                panic!("int8 expected");
            };
            let right = data[3];
            data[3] = right.wrapping_add(5);
            let check = check_op(&model, &plan, op, &values, &tol());
            assert_eq!(check.status, OpStatus::Disagree, "{target}: {check:?}");
            assert_eq!(check.checked_by, Some(checker), "{target}");
            let worst = check.comparison.unwrap().worst.unwrap();
            assert_eq!(
                worst.ferrolite,
                f64::from(right.wrapping_add(5)),
                "{target}"
            );
            assert!(
                (worst.other - f64::from(right)).abs() <= 1.0,
                "{target}: {worst:?}"
            );
            assert_eq!(worst.index, unravel(3, &values[&out].shape));
        }
        // Unchanged, every operator agrees.
        for &op in &steps {
            let check = check_op(&model, &plan, op, &clean, &tol());
            assert_eq!(check.status, OpStatus::Agree, "{check:?}");
        }
    }

    /// The hybrid allowance worked out by hand: input max |x| = 1 gives a step of
    /// 1/127; weights 0.01 · [127, 0, −64] sum to 1.91 in absolute value.
    #[test]
    fn the_hybrid_allowance_is_half_a_step_times_the_weight_mass() {
        use crate::ir::{FullyConnectedOptions, Quantization, Tensor};
        let mut w = Tensor::constant_i8("w", vec![1, 3], &[127, 0, -64]);
        w.quantization = Some(Quantization::per_tensor(0.01, 0));
        let tensors = vec![
            Tensor::activation("x", DType::F32, vec![1, 3]),
            w,
            Tensor::activation("y", DType::F32, vec![1, 1]),
        ];
        let op = Operator::new(
            Op::FullyConnected(FullyConnectedOptions::default()),
            vec![0, 1],
            vec![2],
        );
        let model = Model::with_default_signature(crate::ir::Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![op.clone()],
        });
        let mut values = HashMap::new();
        values.insert(
            0,
            Value::new(vec![1, 3], TensorBuf::F32(vec![1.0, -0.5, 0.25])),
        );
        let bound = hybrid_bound(&model, &op, &values).unwrap();
        let want = 0.505 * 1.91 / 127.0;
        assert!(
            (bound.at(0) - want).abs() < 1e-7,
            "{} vs {want}",
            bound.at(0)
        );
    }

    /// An operator neither tract nor a formula can check makes the answer incomplete
    /// and is named: tract crashes on a uint8 CONCATENATION of differently scaled
    /// inputs, and concatenation has no real-number reference here.
    #[test]
    fn an_operator_nobody_checks_makes_the_answer_incomplete() {
        use crate::ir::{Activation, Quantization, Tensor};
        let q = |name: &str, shape: Vec<usize>, scale: f32, zp: i64| {
            let mut t = Tensor::activation(name, DType::U8, shape);
            t.quantization = Some(Quantization::per_tensor(scale, zp));
            t
        };
        let model = Model::with_default_signature(crate::ir::Graph {
            name: None,
            tensors: vec![
                q("a", vec![1, 2], 0.1, 0),
                q("b", vec![1, 2], 0.2, 3),
                q("y", vec![1, 4], 0.3, 5),
            ],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(
                Op::Concatenation {
                    axis: 1,
                    activation: Activation::None,
                },
                vec![0, 1],
                vec![2],
            )],
        });
        let bytes = crate::tflite::write(&model).unwrap();
        let inputs = vec![
            Value::new(vec![1, 2], TensorBuf::U8(vec![10, 20])),
            Value::new(vec![1, 2], TensorBuf::U8(vec![10, 20])),
        ];
        let report = cross_check(&model, &bytes, &inputs, &tol(), false).unwrap();
        assert_eq!(report.verdict, Verdict::Incomplete);
        let unchecked: Vec<&OpCheck> = report.unchecked().collect();
        assert_eq!(unchecked.len(), 1);
        assert_eq!(unchecked[0].op, "CONCATENATION");
        assert!(unchecked[0].reason.is_some());
    }
}
