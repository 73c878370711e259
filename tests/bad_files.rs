//! Hostile and damaged files: the reader must return a typed error that names what is
//! wrong, and never panic; models it does accept must not make planning panic either.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ferrolite::interp::Interpreter;
use ferrolite::ir::Model;
use ferrolite::tflite::schema_generated::tflite as fb;
use ferrolite::tflite::{read, write, ReadError};
use flatbuffers::FlatBufferBuilder;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/tflite")
            .join(name),
    )
    .expect("fixture")
}

/// Planning allocates arenas for the declared shapes; skip models that would need
/// absurd amounts (the reader allows tensors up to 2 GiB each).
fn plan_if_small(model: Model) {
    let declared: usize = model
        .graph
        .tensors
        .iter()
        .map(|t| t.dense_bytes())
        .fold(0, usize::saturating_add);
    if declared <= 64 << 20 {
        let _ = Interpreter::new(model);
    }
}

/// Reads `bytes` (and plans the model if read), returning the read result, or a
/// description of the panic.
fn read_and_plan(bytes: &[u8]) -> Result<Result<(), ReadError>, String> {
    catch_unwind(AssertUnwindSafe(|| match read(bytes) {
        Ok(model) => {
            plan_if_small(model);
            Ok(())
        }
        Err(e) => Err(e),
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

#[test]
fn truncated_files_are_errors() {
    for name in [
        "mnist_cnn_int8.tflite",
        "mnist_cnn_dense_block16x1_pruned80_sparse_int8.tflite",
    ] {
        let full = fixture(name);
        let ours = write(&read(&full).unwrap()).unwrap();
        for bytes in [&full, &ours] {
            let n = bytes.len();
            let mut lengths: Vec<usize> = (0..400.min(n)).collect();
            lengths.extend([n / 4, n / 2, 3 * n / 4, n - 16, n - 1]);
            for len in lengths {
                match read_and_plan(&bytes[..len]) {
                    Err(panic) => panic!("{name} truncated to {len}: panicked: {panic}"),
                    Ok(Ok(())) => panic!("{name} truncated to {len} was accepted"),
                    Ok(Err(e)) => {
                        let msg = e.to_string();
                        assert!(!msg.is_empty() && !msg.contains('\n'), "{msg}");
                        if len < 8 {
                            assert_eq!(e, ReadError::TooShort { len });
                        }
                    }
                }
            }
        }
    }
}

/// xorshift64*: a deterministic stream of flips without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut panics = Vec::new();
    let mut accepted = 0;
    let mut cases = 0;
    for name in [
        "mnist_cnn_int8.tflite",
        "mnist_cnn_pruned80_sparse_int8.tflite",
        "mnist_mlp_int8.tflite",
    ] {
        let tf = fixture(name);
        let ours = write(&read(&tf).unwrap()).unwrap();
        for original in [tf, ours] {
            let n = original.len();
            for case in 0..1500 {
                let mut bytes = original.clone();
                let flips = 1 + rng.below(4);
                for _ in 0..flips {
                    // Half the flips land in the first or last 2 KiB, where the tables,
                    // offsets and vtables are; weight bytes rarely matter.
                    let pos = if rng.below(2) == 0 {
                        rng.below(n)
                    } else {
                        let k = rng.below(4096.min(n));
                        if k < 2048 {
                            k
                        } else {
                            n - 1 - (k - 2048)
                        }
                    };
                    bytes[pos] ^= 1 << rng.below(8);
                }
                cases += 1;
                match read_and_plan(&bytes) {
                    Err(p) => panics.push(format!("{name} case {case}: {p}")),
                    Ok(Ok(())) => accepted += 1,
                    Ok(Err(e)) => assert!(!e.to_string().contains('\n')),
                }
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} of {cases} mutated files panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
    // Most flips hit weights, so many mutants stay readable and reach planning.
    assert!(
        accepted > cases / 10,
        "only {accepted} of {cases} mutants were readable"
    );
}

#[test]
fn wrong_identifier_and_version() {
    let mut bytes = fixture("mnist_mlp_int8.tflite");
    bytes[4..8].copy_from_slice(b"TFL2");
    let e = read(&bytes).unwrap_err();
    assert!(matches!(e, ReadError::WrongIdentifier { .. }));
    assert!(e.to_string().contains("TFL2"), "{e}");

    let raw = Raw {
        version: 2,
        ..Raw::minimal()
    };
    let e = read(&raw.build()).unwrap_err();
    assert_eq!(e, ReadError::SchemaVersion { version: 2 });
    assert!(e.to_string().contains("version 2"), "{e}");

    let raw = Raw {
        no_subgraphs: true,
        ..Raw::minimal()
    };
    assert_eq!(read(&raw.build()).unwrap_err(), ReadError::NoSubgraphs);

    // The minimal model itself is fine, so the failures above come from the patches.
    read(&Raw::minimal().build()).unwrap();
}

#[test]
fn garbage_after_a_valid_header_fails_verification() {
    let mut bytes = vec![0xFFu8; 64];
    bytes[4..8].copy_from_slice(b"TFL3");
    let e = read(&bytes).unwrap_err();
    assert!(matches!(e, ReadError::Flatbuffer { .. }), "{e}");
}

// A hand-made model, built with the generated API so that it can hold what the IR cannot
// (negative dims, dangling indices, unknown types and ops).

#[derive(Clone)]
struct RawTensor {
    name: &'static str,
    ty: fb::TensorType,
    shape: Vec<i32>,
    shape_signature: Option<Vec<i32>>,
    buffer: u32,
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    quantized_dimension: i32,
    sparse: Option<RawSparsity>,
}

#[derive(Clone)]
struct RawSparsity {
    traversal_order: Vec<i32>,
    block_map: Vec<i32>,
    /// (is CSR, dense size, has index vectors)
    levels: Vec<(bool, i32, bool)>,
}

fn t(name: &'static str, shape: &[i32], buffer: u32) -> RawTensor {
    RawTensor {
        name,
        ty: fb::TensorType::FLOAT32,
        shape: shape.to_vec(),
        shape_signature: None,
        buffer,
        scale: vec![],
        zero_point: vec![],
        quantized_dimension: 0,
        sparse: None,
    }
}

#[derive(Clone)]
struct Raw {
    version: u32,
    no_subgraphs: bool,
    tensors: Vec<RawTensor>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    /// (builtin code, custom code)
    opcodes: Vec<(i32, Option<&'static str>)>,
    /// (opcode index, inputs, outputs)
    ops: Vec<(u32, Vec<i32>, Vec<i32>)>,
    /// (data, external offset)
    buffers: Vec<(Vec<u8>, u64)>,
}

impl Raw {
    /// x → RELU → y, plus an unused constant c (buffer 1, 2x2 float).
    fn minimal() -> Raw {
        Raw {
            version: 3,
            no_subgraphs: false,
            tensors: vec![t("x", &[1, 4], 0), t("y", &[1, 4], 0), t("c", &[2, 2], 1)],
            inputs: vec![0],
            outputs: vec![1],
            opcodes: vec![(19, None)],
            ops: vec![(0, vec![0], vec![1])],
            buffers: vec![(vec![], 0), (vec![0; 16], 0)],
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut fbb = FlatBufferBuilder::new();
        let buffers: Vec<_> = self
            .buffers
            .iter()
            .map(|(d, off)| {
                let data = (!d.is_empty()).then(|| fbb.create_vector(d));
                fb::Buffer::create(
                    &mut fbb,
                    &fb::BufferArgs {
                        data,
                        offset: *off,
                        size: if *off > 0 { 16 } else { 0 },
                    },
                )
            })
            .collect();
        let tensors: Vec<_> = self
            .tensors
            .iter()
            .map(|rt| {
                let shape = Some(fbb.create_vector(&rt.shape));
                let shape_signature = rt.shape_signature.as_ref().map(|s| fbb.create_vector(s));
                let name = Some(fbb.create_string(rt.name));
                let scale = Some(fbb.create_vector(&rt.scale));
                let zero_point = Some(fbb.create_vector(&rt.zero_point));
                let quantization = Some(fb::QuantizationParameters::create(
                    &mut fbb,
                    &fb::QuantizationParametersArgs {
                        scale,
                        zero_point,
                        quantized_dimension: rt.quantized_dimension,
                        ..Default::default()
                    },
                ));
                let sparsity = rt.sparse.as_ref().map(|s| {
                    let metas: Vec<_> = s
                        .levels
                        .iter()
                        .map(|&(csr, size, has_vectors)| {
                            let mut args = fb::DimensionMetadataArgs {
                                format: if csr {
                                    fb::DimensionType::SPARSE_CSR
                                } else {
                                    fb::DimensionType::DENSE
                                },
                                dense_size: size,
                                ..Default::default()
                            };
                            if has_vectors {
                                let values = Some(fbb.create_vector(&[0u8, 1]));
                                let seg = fb::Uint8Vector::create(
                                    &mut fbb,
                                    &fb::Uint8VectorArgs { values },
                                );
                                let values = Some(fbb.create_vector(&[0u8]));
                                let idx = fb::Uint8Vector::create(
                                    &mut fbb,
                                    &fb::Uint8VectorArgs { values },
                                );
                                args.array_segments_type = fb::SparseIndexVector::Uint8Vector;
                                args.array_segments = Some(seg.as_union_value());
                                args.array_indices_type = fb::SparseIndexVector::Uint8Vector;
                                args.array_indices = Some(idx.as_union_value());
                            }
                            fb::DimensionMetadata::create(&mut fbb, &args)
                        })
                        .collect();
                    let traversal_order = Some(fbb.create_vector(&s.traversal_order));
                    let block_map = Some(fbb.create_vector(&s.block_map));
                    let dim_metadata = Some(fbb.create_vector(&metas));
                    fb::SparsityParameters::create(
                        &mut fbb,
                        &fb::SparsityParametersArgs {
                            traversal_order,
                            block_map,
                            dim_metadata,
                        },
                    )
                });
                fb::Tensor::create(
                    &mut fbb,
                    &fb::TensorArgs {
                        shape,
                        type_: rt.ty,
                        buffer: rt.buffer,
                        name,
                        quantization,
                        sparsity,
                        shape_signature,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let ops: Vec<_> = self
            .ops
            .iter()
            .map(|(code, ins, outs)| {
                let inputs = Some(fbb.create_vector(ins));
                let outputs = Some(fbb.create_vector(outs));
                fb::Operator::create(
                    &mut fbb,
                    &fb::OperatorArgs {
                        opcode_index: *code,
                        inputs,
                        outputs,
                        ..Default::default()
                    },
                )
            })
            .collect();
        let subgraph = {
            let tensors = Some(fbb.create_vector(&tensors));
            let inputs = Some(fbb.create_vector(&self.inputs));
            let outputs = Some(fbb.create_vector(&self.outputs));
            let operators = Some(fbb.create_vector(&ops));
            fb::SubGraph::create(
                &mut fbb,
                &fb::SubGraphArgs {
                    tensors,
                    inputs,
                    outputs,
                    operators,
                    name: None,
                },
            )
        };
        let opcodes: Vec<_> = self
            .opcodes
            .iter()
            .map(|&(code, custom)| {
                let custom_code = custom.map(|c| fbb.create_string(c));
                fb::OperatorCode::create(
                    &mut fbb,
                    &fb::OperatorCodeArgs {
                        deprecated_builtin_code: code.min(127) as i8,
                        custom_code,
                        version: 1,
                        builtin_code: fb::BuiltinOperator(code),
                    },
                )
            })
            .collect();
        let operator_codes = Some(fbb.create_vector(&opcodes));
        let subgraphs = (!self.no_subgraphs).then(|| fbb.create_vector(&[subgraph]));
        let buffers = Some(fbb.create_vector(&buffers));
        let root = fb::Model::create(
            &mut fbb,
            &fb::ModelArgs {
                version: self.version,
                operator_codes,
                subgraphs,
                buffers,
                ..Default::default()
            },
        );
        fbb.finish(root, Some("TFL3"));
        fbb.finished_data().to_vec()
    }
}

/// Reads `raw`, expecting an error whose message contains every one of `needles`.
fn expect_err(raw: &Raw, needles: &[&str]) -> ReadError {
    let bytes = raw.build();
    let e = match read_and_plan(&bytes) {
        Err(p) => panic!("panicked: {p}"),
        Ok(Ok(())) => panic!("accepted; expected an error mentioning {needles:?}"),
        Ok(Err(e)) => e,
    };
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "'{msg}' does not mention '{n}'");
    }
    e
}

#[test]
fn hostile_shapes() {
    let mut r = Raw::minimal();
    r.tensors[1].shape = vec![1, -4];
    expect_err(&r, &["'y'", "-4", ">= 0"]);

    let mut r = Raw::minimal();
    r.tensors[1].shape = vec![65536, 65536, 65536];
    r.tensors[0].shape = vec![65536, 65536, 65536];
    expect_err(&r, &["'x'", "65536"]);

    // -1 is fine in shape_signature, nowhere else.
    let mut r = Raw::minimal();
    r.tensors[0].shape_signature = Some(vec![-1, 4]);
    read(&r.build()).unwrap();
    r.tensors[0].shape_signature = Some(vec![-2, 4]);
    expect_err(&r, &["'x'", "-2"]);

    // A constant whose buffer is smaller than its dense shape.
    let mut r = Raw::minimal();
    r.tensors[2].shape = vec![3, 2];
    let e = expect_err(&r, &["'c'", "24", "16"]);
    assert!(
        matches!(
            e,
            ReadError::BufferTooSmall {
                need: 24,
                have: 16,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn dangling_indices() {
    let mut r = Raw::minimal();
    r.tensors[2].buffer = 9;
    expect_err(&r, &["'c'", "buffer 9", "2 buffers"]);

    let mut r = Raw::minimal();
    r.ops[0].0 = 5;
    expect_err(&r, &["operator #0", "opcode 5"]);

    let mut r = Raw::minimal();
    r.ops[0].1 = vec![7];
    expect_err(&r, &["operator #0 (RELU) input 0", "tensor 7", "3 tensors"]);

    let mut r = Raw::minimal();
    r.ops[0].2 = vec![-3];
    expect_err(&r, &["operator #0 (RELU) output 0", "-3"]);

    let mut r = Raw::minimal();
    r.inputs = vec![3];
    expect_err(&r, &["graph input", "tensor 3"]);

    let mut r = Raw::minimal();
    r.outputs = vec![-1];
    expect_err(&r, &["graph output", "-1"]);
}

#[test]
fn op_reading_an_undefined_tensor() {
    // RELU reads y, which nothing produced yet (it is its own output).
    let mut r = Raw::minimal();
    r.ops[0].1 = vec![1];
    let e = expect_err(&r, &["operator #0", "RELU", "'y'"]);
    assert!(
        matches!(
            e,
            ReadError::UndefinedInput {
                op: 0,
                tensor: 1,
                ..
            }
        ),
        "{e:?}"
    );

    // An output nobody writes.
    let mut r = Raw::minimal();
    r.tensors.push(t("ghost", &[1], 0));
    r.outputs = vec![1, 3];
    expect_err(&r, &["'ghost'", "never produced"]);

    // -1 marks an omitted input and is fine.
    let mut r = Raw::minimal();
    r.ops[0].1 = vec![0, -1];
    let m = read(&r.build()).unwrap();
    assert_eq!(m.graph.operators[0].inputs, vec![Some(0), None]);
}

#[test]
fn unsupported_types_ops_and_buffers() {
    let mut r = Raw::minimal();
    r.tensors[1].ty = fb::TensorType::COMPLEX64;
    expect_err(&r, &["'y'", "COMPLEX64"]);

    let mut r = Raw::minimal();
    r.opcodes = vec![(125, None)];
    let e = expect_err(&r, &["operator #0", "SEGMENT_SUM", "code 125"]);
    assert_eq!(
        e.to_string(),
        "operator #0 uses SEGMENT_SUM (code 125), which ferrolite does not support"
    );

    let mut r = Raw::minimal();
    r.opcodes = vec![(32, Some("TFLite_Detection_PostProcess"))];
    expect_err(&r, &["operator #0", "TFLite_Detection_PostProcess"]);

    // Codes above 127 live in builtin_code only (deprecated_builtin_code = 127).
    let mut r = Raw::minimal();
    r.opcodes = vec![(156, None)];
    expect_err(&r, &["ATAN2", "code 156"]);

    let mut r = Raw::minimal();
    r.buffers[1].1 = 4096;
    expect_err(&r, &["'c'", "buffer 1", "external"]);
}

/// Three operators: SEGMENT_SUM (code 125, which ferrolite lacks), the RELU of
/// `Raw::minimal`, then a custom op; the graph output is the last one's.
fn two_unsupported() -> Raw {
    let mut r = Raw::minimal();
    r.tensors.push(t("z", &[1, 4], 0));
    r.tensors.push(t("w", &[1, 4], 0));
    r.opcodes = vec![
        (125, None),
        (19, None),
        (32, Some("Landmarks2TransformMatrix")),
    ];
    r.ops = vec![
        (0, vec![0, 2], vec![3]),
        (1, vec![3], vec![1]),
        (2, vec![1, 3], vec![4]),
    ];
    r.outputs = vec![4];
    r
}

#[test]
fn inspection_keeps_every_unsupported_op_and_nothing_runs_or_writes_one() {
    let bytes = two_unsupported().build();
    // The normal reader still stops at the first.
    let e = read(&bytes).unwrap_err().to_string();
    assert!(e.contains("operator #0 uses SEGMENT_SUM"), "{e}");

    let m = ferrolite::tflite::read_for_inspection(&bytes).unwrap();
    let names: Vec<&str> = m.graph.operators.iter().map(|o| o.op.name()).collect();
    assert_eq!(names, ["SEGMENT_SUM", "RELU", "CUSTOM"]);
    assert_eq!(m.graph.operators[0].op.builtin_code(), 125);
    assert_eq!(
        m.graph.operators[2].op,
        ferrolite::ir::Op::Unsupported {
            code: 32,
            custom_code: Some("Landmarks2TransformMatrix".into())
        }
    );
    assert_eq!(m.graph.operators[2].inputs, vec![Some(1), Some(3)]);

    let e = ferrolite::tflite::write(&m).unwrap_err().to_string();
    assert!(e.contains("operator #0 is SEGMENT_SUM"), "{e}");
    let e = ferrolite::interp::Interpreter::new(m)
        .err()
        .expect("a model with an unsupported op was planned")
        .to_string();
    assert!(
        e.contains("SEGMENT_SUM") && e.contains("does not support"),
        "{e}"
    );
}

#[cfg(feature = "cli")]
#[test]
fn inspect_lists_the_whole_model_and_names_each_missing_op() {
    let dir =
        std::env::temp_dir().join(format!("ferrolite-inspect-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.tflite");
    std::fs::write(&path, two_unsupported().build()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "lacks 2 operators the model uses: SEGMENT_SUM (#0), custom 'Landmarks2TransformMatrix' (#2)"
        ),
        "{stdout}"
    );
    for line in ["#0   SEGMENT_SUM", "#1   RELU", "#2   CUSTOM"] {
        assert!(stdout.contains(line), "no '{line}' in {stdout}");
    }

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ferrolite"))
        .args(["inspect", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["unsupported_ops"][1]["op"],
        "custom 'Landmarks2TransformMatrix'"
    );
    assert_eq!(v["unsupported_ops"][1]["operators"][0], 2);
    assert_eq!(v["operators"].as_array().map(Vec::len), Some(3));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_quantization() {
    let mut r = Raw::minimal();
    r.tensors[2].ty = fb::TensorType::INT8;
    r.tensors[2].scale = vec![0.5, 0.5];
    r.tensors[2].zero_point = vec![0];
    expect_err(&r, &["'c'", "2 scales", "1 zero points"]);

    r.tensors[2].zero_point = vec![0, 0];
    r.tensors[2].quantized_dimension = 2;
    expect_err(&r, &["'c'", "quantized_dimension 2"]);

    r.tensors[2].quantized_dimension = 0;
    r.tensors[2].scale = vec![0.5, 0.5, 0.5];
    r.tensors[2].zero_point = vec![0, 0, 0];
    expect_err(&r, &["'c'", "3 scales"]);

    // Two scales along a dimension of extent 2 are per-axis and fine.
    r.tensors[2].scale = vec![0.5, 0.25];
    r.tensors[2].zero_point = vec![0, 0];
    let m = read(&r.build()).unwrap();
    assert_eq!(
        m.graph.tensors[2].quantization.as_ref().unwrap().scale,
        vec![0.5, 0.25]
    );
    // An empty parameter table (as TF writes on float tensors) means "not quantized".
    assert_eq!(m.graph.tensors[0].quantization, None);
}

#[test]
fn malformed_sparsity() {
    let good = RawSparsity {
        traversal_order: vec![0, 1],
        block_map: vec![],
        levels: vec![(false, 2, false), (true, 0, true)],
    };
    let with = |s: RawSparsity| {
        let mut r = Raw::minimal();
        r.tensors[2].sparse = Some(s);
        r
    };
    read(&with(good.clone()).build()).unwrap();

    expect_err(
        &with(RawSparsity {
            traversal_order: vec![0],
            ..good.clone()
        }),
        &["'c'", "traversal_order has 1"],
    );
    expect_err(
        &with(RawSparsity {
            traversal_order: vec![0, 0],
            ..good.clone()
        }),
        &["'c'", "repeats"],
    );
    expect_err(
        &with(RawSparsity {
            traversal_order: vec![0, 5],
            ..good.clone()
        }),
        &["'c'", "traversal_order entry 5"],
    );
    expect_err(
        &with(RawSparsity {
            levels: vec![(false, 2, false)],
            ..good.clone()
        }),
        &["'c'", "dim_metadata has 1"],
    );
    expect_err(
        &with(RawSparsity {
            levels: vec![(false, 2, false), (true, 0, false)],
            ..good.clone()
        }),
        &["'c'", "level 1", "array_segments"],
    );
    expect_err(
        &with(RawSparsity {
            traversal_order: vec![0, 1, 2],
            block_map: vec![4],
            levels: good.levels.clone(),
        }),
        &["'c'", "block_map entry 4"],
    );
    expect_err(
        &with(RawSparsity {
            levels: vec![(false, -3, false), (true, 0, true)],
            ..good
        }),
        &["'c'", "dense_size -3"],
    );
}

#[test]
fn writer_rejects_dangling_indices() {
    let mut m = read(&fixture("mnist_mlp_float32.tflite")).unwrap();
    m.graph.operators[1].inputs[0] = Some(999);
    let e = write(&m).unwrap_err();
    assert!(
        e.to_string()
            .contains("operator #1 (FULLY_CONNECTED) input 0"),
        "{e}"
    );
    assert!(e.to_string().contains("999"), "{e}");
}
