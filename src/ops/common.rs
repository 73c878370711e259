//! What the per-op hooks share: the context a `read` hook gets, the fused-activation and
//! padding mappings every options table uses, the operator signature the `version` rules
//! look at (TF's `OpSignature`, reduced to what ferrolite's ops need), and the few rules
//! and option tables that several operators have in common.

use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};

use crate::ir::{Activation, DType, Graph, Op, Operator, Padding, Pool2dOptions, Tensor};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

/// The builder a `write` hook adds its options table to.
pub type Fbb<'a> = FlatBufferBuilder<'a>;

/// An operator's `builtin_options` union: its type tag and table, or `(NONE, None)` for
/// ops whose schema has no options table.
pub type OptionsTable = (fb::BuiltinOptions, Option<WIPOffset<UnionWIPOffset>>);

/// The union of an op without an options table.
pub const NO_OPTIONS: OptionsTable = (fb::BuiltinOptions::NONE, None);

/// What a `read` hook sees: the flatbuffer operator, and its index and name so that
/// every error says which operator of the file is wrong.
pub struct ReadCtx<'a> {
    /// The operator's index in subgraph 0.
    pub index: usize,
    /// The TFLite name of the op (the registry's `name`).
    pub name: &'static str,
    pub fop: fb::Operator<'a>,
}

impl ReadCtx<'_> {
    /// A `BadOperator` error about this operator.
    pub fn bad(&self, message: String) -> ReadError {
        ReadError::BadOperator {
            op: self.index,
            op_name: self.name.to_string(),
            message,
        }
    }

    /// The options table an accessor (`fop.builtin_options_as_…()`) returned. The accessor
    /// gives `None` both for absent options, which mean the schema defaults, and for a
    /// table of another kind, which is an error naming the `expected` kind.
    pub fn options<T>(&self, table: Option<T>, expected: &str) -> Result<Option<T>, ReadError> {
        let found = self.fop.builtin_options_type();
        match table {
            Some(t) => Ok(Some(t)),
            None if found == fb::BuiltinOptions::NONE => Ok(None),
            None => Err(self.bad(format!(
                "carries {} options, expected {expected}",
                found
                    .variant_name()
                    .map_or_else(|| format!("#{}", found.0), str::to_string)
            ))),
        }
    }

    /// The fused activation, `NONE` when the options are absent.
    pub fn activation(
        &self,
        a: Option<fb::ActivationFunctionType>,
    ) -> Result<Activation, ReadError> {
        Ok(match a.unwrap_or(fb::ActivationFunctionType::NONE) {
            fb::ActivationFunctionType::NONE => Activation::None,
            fb::ActivationFunctionType::RELU => Activation::Relu,
            fb::ActivationFunctionType::RELU_N1_TO_1 => Activation::ReluN1To1,
            fb::ActivationFunctionType::RELU6 => Activation::Relu6,
            fb::ActivationFunctionType::TANH => Activation::Tanh,
            fb::ActivationFunctionType::SIGN_BIT => Activation::SignBit,
            other => return Err(self.bad(format!("unknown fused activation {}", other.0))),
        })
    }

    /// The padding, `SAME` (the schema default) when the options are absent.
    pub fn padding(&self, p: Option<fb::Padding>) -> Result<Padding, ReadError> {
        match p.unwrap_or(fb::Padding::SAME) {
            fb::Padding::SAME => Ok(Padding::Same),
            fb::Padding::VALID => Ok(Padding::Valid),
            other => Err(self.bad(format!("unknown padding {}", other.0))),
        }
    }
}

/// The schema value of a fused activation.
pub fn activation(a: Activation) -> fb::ActivationFunctionType {
    match a {
        Activation::None => fb::ActivationFunctionType::NONE,
        Activation::Relu => fb::ActivationFunctionType::RELU,
        Activation::ReluN1To1 => fb::ActivationFunctionType::RELU_N1_TO_1,
        Activation::Relu6 => fb::ActivationFunctionType::RELU6,
        Activation::Tanh => fb::ActivationFunctionType::TANH,
        Activation::SignBit => fb::ActivationFunctionType::SIGN_BIT,
    }
}

/// The schema value of a padding.
pub fn padding(p: Padding) -> fb::Padding {
    match p {
        Padding::Same => fb::Padding::SAME,
        Padding::Valid => fb::Padding::VALID,
    }
}

/// What a hook does when handed another op's variant. [`super::def`] routes every variant
/// to its own file, so this is a registry bug; debug builds stop on it, release builds
/// write no options rather than abort a conversion.
pub fn misrouted(op: &Op) -> OptionsTable {
    debug_assert!(false, "{} handed to another op's write hook", op.name());
    NO_OPTIONS
}

/// The operands and types TF's version rules look at (`OpSignature` in `op_signature.cc`):
/// the first two inputs and the first output, each absent when the slot is omitted or
/// out of range.
pub struct OpSig<'g> {
    pub graph: &'g Graph,
    pub op: &'g Operator,
    pub in0_t: Option<&'g Tensor>,
    pub in1_t: Option<&'g Tensor>,
    pub out0_t: Option<&'g Tensor>,
    pub in0: Option<DType>,
    pub in1: Option<DType>,
    pub out0: Option<DType>,
}

impl<'g> OpSig<'g> {
    pub fn new(graph: &'g Graph, op: &'g Operator) -> OpSig<'g> {
        let input = |i: usize| op.input(i).and_then(|t| graph.tensors.get(t));
        let in0_t = input(0);
        let in1_t = input(1);
        let out0_t = op.outputs.first().and_then(|&t| graph.tensors.get(t));
        OpSig {
            graph,
            op,
            in0_t,
            in1_t,
            out0_t,
            in0: in0_t.map(|t| t.dtype),
            in1: in1_t.map(|t| t.dtype),
            out0: out0_t.map(|t| t.dtype),
        }
    }

    /// Float activations with int8 weights and a float output (dynamic-range quantization).
    pub fn hybrid(&self) -> bool {
        self.in0 == Some(DType::F32) && self.in1 == Some(DType::I8) && self.out0 == Some(DType::F32)
    }

    /// Int8 activations, weights and output.
    pub fn all_i8(&self) -> bool {
        self.in0 == Some(DType::I8) && self.in1 == Some(DType::I8) && self.out0 == Some(DType::I8)
    }

    /// Binary ops get a higher version when they broadcast above rank 4.
    pub fn broadcasts_above_rank4(&self) -> bool {
        let differ = match (self.in0_t, self.in1_t) {
            (Some(a), Some(b)) => a.shape != b.shape,
            _ => false,
        };
        differ && rank(self.in0_t).max(rank(self.in1_t)) > 4
    }
}

/// Number of scales of a quantized tensor (0 when not quantized).
pub fn scale_count(t: Option<&Tensor>) -> usize {
    t.and_then(|t| t.quantization.as_ref())
        .map_or(0, |q| q.scale.len())
}

/// `scales > 1 && scales == shape[quantized_dimension]`, TF's test for per-channel
/// DEQUANTIZE/QUANTIZE tensors.
pub fn per_axis_along_quantized_dim(t: Option<&Tensor>) -> bool {
    let Some(t) = t else { return false };
    let Some(q) = t.quantization.as_ref() else {
        return false;
    };
    q.scale.len() > 1 && t.shape.get(q.quantized_dimension) == Some(&q.scale.len())
}

/// TF checks scale count against a fixed weight dimension (0 for conv/FC filters, 3 for
/// depthwise), regardless of `quantized_dimension`.
pub fn per_channel_along(t: Option<&Tensor>, dim: usize) -> bool {
    let Some(t) = t else { return false };
    let n = scale_count(Some(t));
    n > 0 && t.shape.get(dim) == Some(&n)
}

pub fn rank(t: Option<&Tensor>) -> usize {
    t.map_or(0, |t| t.shape.len())
}

/// The rule of ops with a single version.
pub fn version_1(_: &OpSig) -> i32 {
    1
}

/// int16 input → 3, int8 input → 2, else 1 (CONCATENATION, SOFTMAX, MEAN, RELU6).
pub fn version_by_int_input(s: &OpSig) -> i32 {
    match s.in0 {
        Some(DType::I16) => 3,
        Some(DType::I8) => 2,
        _ => 1,
    }
}

/// int16 input and output → 3, int8 input → 2, else 1 (the pools, TANH, LOGISTIC).
pub fn version_by_int_io(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I16) && s.out0 == Some(DType::I16) {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

/// The summary of ops without options.
pub fn no_summary(_: &Op) -> String {
    String::new()
}

/// AVERAGE_POOL_2D and MAX_POOL_2D share `Pool2DOptions`. Absent options give the schema
/// defaults (strides and filter 0), which the interpreter's prepare refuses.
pub fn read_pool(r: &ReadCtx) -> Result<Pool2dOptions, ReadError> {
    let o = r.options(r.fop.builtin_options_as_pool_2_doptions(), "Pool2DOptions")?;
    Ok(Pool2dOptions {
        padding: r.padding(o.map(|o| o.padding()))?,
        stride_w: o.map_or(0, |o| o.stride_w()),
        stride_h: o.map_or(0, |o| o.stride_h()),
        filter_w: o.map_or(0, |o| o.filter_width()),
        filter_h: o.map_or(0, |o| o.filter_height()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

pub fn write_pool(fbb: &mut Fbb, o: &Pool2dOptions) -> OptionsTable {
    let table = fb::Pool2DOptions::create(
        fbb,
        &fb::Pool2DOptionsArgs {
            padding: padding(o.padding),
            stride_w: o.stride_w,
            stride_h: o.stride_h,
            filter_width: o.filter_w,
            filter_height: o.filter_h,
            fused_activation_function: activation(o.activation),
        },
    );
    (
        fb::BuiltinOptions::Pool2DOptions,
        Some(table.as_union_value()),
    )
}

pub fn pool_summary(o: &Pool2dOptions) -> String {
    format!(
        "{:?} filter {}x{} stride {}x{} {}",
        o.padding,
        o.filter_h,
        o.filter_w,
        o.stride_h,
        o.stride_w,
        o.activation.name()
    )
}

// ---------------------------------------------------------------------------------------
// Custom ops: options as raw C structs

/// The first `count` little-endian int32 fields of a custom op's `custom_options`, which
/// hold the C struct `struct_name` its runtime kernel casts them to. Fewer bytes is an
/// error; more (fields newer headers append) are ignored.
pub fn c_struct_words(r: &ReadCtx, count: usize, struct_name: &str) -> Result<Vec<i32>, ReadError> {
    let bytes = r.fop.custom_options().map_or(&[][..], |v| v.bytes());
    if bytes.len() < 4 * count {
        return Err(r.bad(format!(
            "custom options hold {} bytes, {struct_name} needs {}",
            bytes.len(),
            4 * count
        )));
    }
    Ok(bytes[..4 * count]
        .chunks_exact(4)
        .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect())
}

/// `TfLitePadding` (C): 1 SAME, 2 VALID.
pub fn c_padding(r: &ReadCtx, value: i32) -> Result<Padding, ReadError> {
    match value {
        1 => Ok(Padding::Same),
        2 => Ok(Padding::Valid),
        other => Err(r.bad(format!("padding {other} is neither SAME (1) nor VALID (2)"))),
    }
}

/// The `TfLitePadding` value of a padding.
pub fn c_padding_value(p: Padding) -> i32 {
    match p {
        Padding::Same => 1,
        Padding::Valid => 2,
    }
}

/// `TfLiteFusedActivation` (C) numbers its values as the schema's `ActivationFunctionType`
/// does for the activations ferrolite knows.
pub fn c_activation(r: &ReadCtx, value: i32) -> Result<Activation, ReadError> {
    let code =
        i8::try_from(value).map_err(|_| r.bad(format!("unknown fused activation {value}")))?;
    r.activation(Some(fb::ActivationFunctionType(code)))
}

/// The `TfLiteFusedActivation` value of an activation.
pub fn c_activation_value(a: Activation) -> i32 {
    i32::from(activation(a).0)
}

/// Little-endian bytes of int32 struct fields.
pub fn c_struct_bytes(words: &[i32]) -> Vec<u8> {
    words.iter().flat_map(|v| v.to_le_bytes()).collect()
}
