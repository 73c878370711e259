//! Operator versions and the minimum runtime version, as TensorFlow's exporter computes them.
//!
//! The rules follow `GetBuiltinOperatorVersion` (LiteRT
//! `tflite/converter/tools/versioning/op_version.cc`, with the operator signature built as in
//! `op_signature.cc`) restricted to ferrolite's ops, and the runtime table of
//! `runtime_version.cc`. Each op's rule is the `version` hook of its file in `src/ops/`,
//! and its runtime table the `runtime_versions` of its registry entry; this module applies
//! them. A runtime refuses an op whose (code, version) it has not registered,
//! so the version must never be lower than what the tensor types demand; it also should not
//! be higher than needed, or older runtimes refuse a model they could run.
//!
//! Cases the IR cannot express are not reachable here: int4 and uint32 tensors, conv and FC
//! `quantized_bias_type`, ADD/SUB `pot_scale_int16 = false` (the writer always leaves the
//! default `true`).

use crate::ir::{Graph, Operator};
use crate::ops::OpSig;

/// The version TensorFlow would give `op` in `graph`: the rule in the op's registry file.
pub fn op_version(graph: &Graph, op: &Operator) -> i32 {
    (op.op.def().version)(&OpSig::new(graph, op))
}

/// The first TFLite runtime release that registers `code` at `version`, from TF's table
/// as each op's registry entry holds it;
/// `None` for pairs the table does not list (TF then skips the pair); an entry may be
/// `""` where TF's table skips a version (BROADCAST_TO starts at version 2).
pub fn runtime_version(code: i32, version: i32) -> Option<&'static str> {
    let table = crate::ops::by_code(code).map_or(&[][..], |d| d.runtime_versions);
    let index = usize::try_from(version).ok()?.checked_sub(1)?;
    table.get(index).copied().filter(|v| !v.is_empty())
}

/// Orders dotted version strings numerically, component by component ("1.14.0" > "1.5.0").
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The highest runtime version any of `(code, version)` needs, or `None` if no pair is
/// in the table.
pub fn min_runtime_version(pairs: impl IntoIterator<Item = (i32, i32)>) -> Option<&'static str> {
    pairs
        .into_iter()
        .filter_map(|(c, v)| runtime_version(c, v))
        .max_by_key(|v| version_key(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;

    #[test]
    fn runtime_table_matches_tf_examples() {
        // Values quoted in the format notes (docs §1.2).
        assert_eq!(runtime_version(ops::conv_2d::CODE, 3), Some("1.14.0"));
        assert_eq!(
            runtime_version(ops::fully_connected::CODE, 4),
            Some("1.14.0")
        );
        assert_eq!(
            runtime_version(ops::fully_connected::CODE, 8),
            Some("2.3.0")
        );
        assert_eq!(runtime_version(ops::densify::CODE, 1), Some("2.2.0"));
        assert_eq!(runtime_version(ops::dequantize::CODE, 3), Some("1.15.0"));
        assert_eq!(runtime_version(ops::reshape::CODE, 2), None);
        assert_eq!(runtime_version(ops::reshape::CODE, 0), None);
        // TF's table has no BROADCAST_TO version 1; version 2 came with 2.5.0.
        assert_eq!(runtime_version(ops::broadcast_to::CODE, 1), None);
        assert_eq!(runtime_version(ops::broadcast_to::CODE, 2), Some("2.5.0"));
    }

    #[test]
    fn numeric_not_lexicographic_maximum() {
        let v = min_runtime_version([
            (ops::shape::CODE, 1),
            (ops::conv_2d::CODE, 1),
            (ops::pack::CODE, 1),
        ]);
        assert_eq!(v, Some("1.11.0"));
        let v = min_runtime_version([(ops::reshape::CODE, 1), (ops::dequantize::CODE, 1)]);
        assert_eq!(v, Some("1.13.1"));
        assert_eq!(min_runtime_version([]), None);
    }
}
