//! MediaPipe's custom operator `Convolution2DTransposeBias`, which Google's segmentation
//! models (selfie and hair segmentation) use to upsample: TRANSPOSE_CONV with the bias as
//! its third input and no output-shape operand. Inputs: the input (NHWC), weights OHWI,
//! bias `[out_c]`; float32 only, as MediaPipe's kernel.
//!
//! Its options are not a flatbuffer table: `custom_options` holds the raw bytes of
//! TFLite's C struct `TfLiteTransposeConvParams`, read by the runtime that registers the
//! op: three little-endian int32s, the padding (`TfLitePadding`: 1 SAME, 2 VALID), the
//! stride width and the stride height. Newer TFLite headers append fields MediaPipe's
//! kernel never reads; longer option blobs are accepted and those bytes ignored.

use super::common::{
    c_padding, c_padding_value, c_struct_bytes, c_struct_words, version_1, Fbb, OptionsTable,
    ReadCtx, NO_OPTIONS,
};
use super::{Arity, OpDef};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

/// The op's custom code, which is also its name.
pub const CUSTOM_CODE: &str = "Convolution2DTransposeBias";

pub const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CUSTOM.0,
    name: CUSTOM_CODE,
    arity: Arity::fixed(3),
    // MediaPipe has no integer kernel, so the int8 quantizer leaves models with it alone.
    quant: None,
    weights: None,
    // TF's runtime table knows no custom op.
    runtime_versions: &[],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::transpose_conv_bias::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let words = c_struct_words(r, 3, "TfLiteTransposeConvParams")?;
    Ok(Op::TransposeConvBias {
        padding: c_padding(r, words[0])?,
        stride_w: words[1],
        stride_h: words[2],
    })
}

/// Custom ops carry no builtin options table; see [`custom_options`].
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

/// The 12 bytes MediaPipe's kernel reads.
pub fn custom_options(op: &Op) -> Vec<u8> {
    match *op {
        Op::TransposeConvBias {
            padding,
            stride_w,
            stride_h,
        } => c_struct_bytes(&[c_padding_value(padding), stride_w, stride_h]),
        _ => Vec::new(),
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::TransposeConvBias {
            padding,
            stride_w,
            stride_h,
        } => format!("{padding:?} stride {stride_h}x{stride_w} (custom)"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Padding;

    fn read_options(bytes: &[u8]) -> Result<Op, ReadError> {
        let mut fbb = Fbb::new();
        let custom_options = Some(fbb.create_vector(bytes));
        let root = fb::Operator::create(
            &mut fbb,
            &fb::OperatorArgs {
                custom_options,
                ..Default::default()
            },
        );
        fbb.finish(root, None);
        let data = fbb.finished_data().to_vec();
        let fop = flatbuffers::root::<fb::Operator>(&data).expect("the test built a valid table");
        read(&ReadCtx {
            index: 3,
            name: DEF.name,
            fop,
        })
    }

    fn words(values: &[i32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn options_are_the_c_struct() {
        let op = Op::TransposeConvBias {
            padding: Padding::Valid,
            stride_w: 3,
            stride_h: 2,
        };
        assert_eq!(custom_options(&op), words(&[2, 3, 2]));
        assert_eq!(read_options(&custom_options(&op)), Ok(op.clone()));
        // Fields newer headers append are ignored.
        assert_eq!(read_options(&words(&[2, 3, 2, 7])), Ok(op));
    }

    #[test]
    fn short_or_unknown_options_are_errors() {
        for bytes in [
            Vec::new(),
            words(&[1, 2]),
            words(&[0, 2, 2]),
            words(&[9, 2, 2]),
        ] {
            let err = read_options(&bytes).expect_err("must be refused");
            assert!(
                err.to_string().contains("Convolution2DTransposeBias"),
                "{err}"
            );
        }
    }
}
