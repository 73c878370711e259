//! int8 SOFTMAX at every input scale LiteRT accepts (fixtures/softmax, made by
//! scripts/gen_softmax_fixtures.py): where LiteRT's reference kernel runs the model,
//! ferrolite matches its outputs bit for bit; where the reference aborts (input scale so
//! small that beta · scale · 2^26 ≤ 1), ferrolite runs it anyway and matches LiteRT's
//! default kernel, which computes from a table of exponentials.

use std::path::{Path, PathBuf};

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/softmax")
}

/// (name, whether LiteRT's reference kernel aborts on it), from the manifest.
fn models() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["reference_kernel_aborts"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn int8(buf: &TensorBuf) -> Vec<i8> {
    match buf {
        TensorBuf::I8(v) => v.clone(),
        other => panic!("int8 expected, got {:?}", other.dtype()),
    }
}

#[test]
fn softmax_matches_litert_at_every_input_scale() {
    let models = models();
    assert_eq!(models.len(), 3, "the manifest lists three models");
    assert!(
        models.iter().any(|(_, aborts)| *aborts),
        "at least one model must be beyond the reference kernel's bound"
    );
    for (name, reference_aborts) in models {
        let model = ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite"))).unwrap();
        let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
        let want_file = if reference_aborts {
            format!("{name}.output.opt.npy")
        } else {
            format!("{name}.output.ref.npy")
        };
        let want = npy::read(&dir().join(&want_file)).unwrap();
        let mut interp =
            Interpreter::new(model).unwrap_or_else(|e| panic!("{name}: cannot plan: {e}"));
        let out = interp
            .run(&[input])
            .unwrap_or_else(|e| panic!("{name}: cannot run: {e}"));
        assert_eq!(out[0].shape, want.shape, "{name}: output shape");
        assert_eq!(
            int8(&out[0].data),
            int8(&want.data),
            "{name} against {want_file}"
        );
    }
}
