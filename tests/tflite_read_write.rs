//! Reading TensorFlow-made fixtures, and writing them back.

use std::path::{Path, PathBuf};

use ferrolite::ir::{
    DType, FullyConnectedOptions, Graph, Model, Op, Operator, Quantization, Tensor,
};
use ferrolite::tflite::schema_generated::tflite as fb;
use ferrolite::tflite::{read, write};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

/// (file name, bytes, manifest entry) for every model in the manifest.
fn fixtures() -> Vec<(String, Vec<u8>, Value)> {
    let m = manifest();
    let models = m["models"].as_array().expect("models list").clone();
    assert!(models.len() >= 10, "expected the full fixture set");
    let mut out = Vec::new();
    for entry in models {
        let file = entry["file"].as_str().expect("file").to_string();
        let bytes = std::fs::read(fixture_dir().join(&file)).expect("fixture readable");
        out.push((file, bytes, entry));
    }
    // Every .tflite in the directory is covered by the manifest.
    let on_disk = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "tflite"))
        .count();
    assert_eq!(on_disk, out.len());
    out
}

fn dtype_from_name(n: &str) -> DType {
    match n {
        "float32" => DType::F32,
        "int8" => DType::I8,
        "uint8" => DType::U8,
        other => panic!("unexpected manifest dtype {other}"),
    }
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("uint") as usize)
        .collect()
}

fn i32s(v: &Value) -> Vec<i32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int") as i32)
        .collect()
}

fn check_io(graph: &Graph, index: usize, spec: &Value, file: &str) {
    let t = &graph.tensors[index];
    assert_eq!(t.name, spec["name"].as_str().unwrap(), "{file}");
    assert_eq!(
        t.dtype,
        dtype_from_name(spec["dtype"].as_str().unwrap()),
        "{file}"
    );
    assert_eq!(t.shape, usizes(&spec["shape"]), "{file}");
    assert_eq!(
        t.shape_signature.as_deref(),
        Some(i32s(&spec["shape_signature"]).as_slice()),
        "{file}"
    );
    let scale = spec["scale"].as_f64().unwrap() as f32;
    if scale == 0.0 {
        assert_eq!(
            t.quantization, None,
            "{file}: float I/O has no quantization"
        );
    } else {
        let zp = spec["zero_point"].as_i64().unwrap();
        assert_eq!(t.scale_zero_point(), Some((scale, zp)), "{file}");
    }
}

#[test]
fn fixtures_read_with_manifest_ops_and_io() {
    for (file, bytes, entry) in fixtures() {
        let model = read(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let g = &model.graph;
        let ops: Vec<&str> = g.operators.iter().map(|o| o.op.name()).collect();
        let expected: Vec<&str> = entry["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ops, expected, "{file}");

        assert_eq!(g.inputs.len(), 1, "{file}");
        assert_eq!(g.outputs.len(), 1, "{file}");
        check_io(g, g.inputs[0], &entry["input"], &file);
        check_io(g, g.outputs[0], &entry["output"], &file);

        let sig = model.signature.as_ref().expect("TF writes a signature");
        assert_eq!(sig.key, "serving_default", "{file}");
        assert_eq!(
            sig.inputs.iter().map(|s| s.1).collect::<Vec<_>>(),
            g.inputs,
            "{file}"
        );
        assert_eq!(
            sig.outputs.iter().map(|s| s.1).collect::<Vec<_>>(),
            g.outputs,
            "{file}"
        );

        for (i, t) in g.tensors.iter().enumerate() {
            assert!(t.shape.len() <= 4, "{file}: tensor {i} {:?}", t.shape);
            if let Some(d) = &t.data {
                if t.sparsity.is_none() {
                    assert_eq!(d.len(), t.dense_bytes(), "{file}: tensor {i} '{}'", t.name);
                } else {
                    assert!(
                        d.len() < t.dense_bytes(),
                        "{file}: sparse tensor {i} stores fewer bytes"
                    );
                    assert_eq!(d.len() % t.dtype.size(), 0);
                }
            }
            if let Some(q) = &t.quantization {
                assert!(!q.scale.is_empty());
                assert_eq!(q.scale.len(), q.zero_point.len());
            }
        }
        let sparse = g.tensors.iter().filter(|t| t.sparsity.is_some()).count();
        let manifest_sparse = entry["has_sparsity_parameters"].as_bool().unwrap_or(false);
        assert_eq!(sparse > 0, manifest_sparse, "{file}");
        // Every weight of a conv or FC is constant or produced by DENSIFY/DEQUANTIZE.
        for op in &g.operators {
            if matches!(op.op, Op::Conv2d(_) | Op::FullyConnected(_)) {
                let w = op.input(1).expect("weights");
                let produced = g.producer(w).map(|p| g.operators[p].op.name());
                assert!(
                    g.tensors[w].is_constant()
                        || matches!(produced, Some("DENSIFY") | Some("DEQUANTIZE")),
                    "{file}: weights of {}",
                    op.op.name()
                );
            }
        }
    }
}

#[test]
fn fixture_details_match_what_tf_wrote() {
    let bytes = std::fs::read(fixture_dir().join("mnist_cnn_int8.tflite")).unwrap();
    let m = read(&bytes).unwrap();
    let g = &m.graph;
    let conv = g
        .operators
        .iter()
        .find(|o| matches!(o.op, Op::Conv2d(_)))
        .unwrap();
    let Op::Conv2d(o) = &conv.op else {
        unreachable!()
    };
    // Keras: Conv2D(12, 3x3, valid, relu), default strides and dilation.
    assert_eq!(
        (o.stride_w, o.stride_h, o.dilation_w, o.dilation_h),
        (1, 1, 1, 1)
    );
    assert_eq!(o.padding, ferrolite::ir::Padding::Valid);
    assert_eq!(o.activation, ferrolite::ir::Activation::Relu);
    let filter = g.tensor(conv.input(1).unwrap());
    assert_eq!(filter.shape, vec![12, 3, 3, 1]);
    assert_eq!(filter.dtype, DType::I8);
    let q = filter.quantization.as_ref().unwrap();
    assert_eq!(q.scale.len(), 12, "conv weights are per-channel");
    assert_eq!(q.quantized_dimension, 0);
    assert!(q.zero_point.iter().all(|&z| z == 0));
    let bias = g.tensor(conv.input(2).unwrap());
    assert_eq!((bias.dtype, bias.shape.clone()), (DType::I32, vec![12]));

    let pool = g
        .operators
        .iter()
        .find(|o| matches!(o.op, Op::MaxPool2d(_)))
        .unwrap();
    let Op::MaxPool2d(p) = &pool.op else {
        unreachable!()
    };
    assert_eq!(
        (p.filter_w, p.filter_h, p.stride_w, p.stride_h),
        (2, 2, 2, 2)
    );

    // The block-sparse int8 FC keeps its sparsity: [DENSE, SPARSE_CSR, DENSE 16].
    let bytes =
        std::fs::read(fixture_dir().join("mnist_cnn_dense_block16x1_pruned80_sparse_int8.tflite"))
            .unwrap();
    let m = read(&bytes).unwrap();
    let fc = m
        .graph
        .operators
        .iter()
        .find(|o| matches!(o.op, Op::FullyConnected(_)))
        .unwrap();
    let w = m.graph.tensor(fc.input(1).unwrap());
    let s = w.sparsity.as_ref().expect("sparse FC weights");
    assert_eq!(s.traversal_order, vec![0, 1, 2]);
    assert_eq!(s.block_map, vec![1]);
    assert_eq!(s.dim_metadata.len(), 3);
    assert_eq!(
        s.dim_metadata[2],
        ferrolite::ir::DimensionMetadata::Dense { size: 16 }
    );
    assert!(matches!(
        s.dim_metadata[1],
        ferrolite::ir::DimensionMetadata::SparseCsr { .. }
    ));
}

#[test]
fn round_trip_is_lossless_and_reproducible() {
    for (file, bytes, _) in fixtures() {
        let model = read(&bytes).unwrap();
        let written = write(&model).unwrap_or_else(|e| panic!("{file}: {e}"));
        let again = read(&written).unwrap_or_else(|e| panic!("{file}: re-read: {e}"));
        assert_eq!(model, again, "{file}");
        assert_eq!(
            written,
            write(&model).unwrap(),
            "{file}: writing twice differs"
        );
        assert_eq!(
            written,
            write(&again).unwrap(),
            "{file}: writing the re-read model differs"
        );
    }
}

fn metadata_string(m: &fb::Model, name: &str) -> Option<String> {
    let entry = m.metadata()?.iter().find(|e| e.name() == Some(name))?;
    let data = m.buffers()?.get(entry.buffer() as usize).data()?;
    Some(
        String::from_utf8_lossy(data.bytes())
            .trim_end_matches('\0')
            .to_string(),
    )
}

#[test]
fn written_files_have_tflite_layout() {
    for (file, bytes, _) in fixtures() {
        let written = write(&read(&bytes).unwrap()).unwrap();
        assert_eq!(&written[4..8], b"TFL3", "{file}");
        let m = fb::root_as_model(&written).unwrap();
        assert_eq!(m.version(), 3);
        let buffers = m.buffers().unwrap();
        assert!(
            buffers.get(0).data().is_none_or(|d| d.is_empty()),
            "{file}: buffer 0 must be empty"
        );

        // Constant data starts on a 16-byte boundary of the file.
        let base = written.as_ptr() as usize;
        let mut checked = 0;
        for b in buffers.iter() {
            if let Some(d) = b.data() {
                if !d.is_empty() {
                    assert_eq!((d.bytes().as_ptr() as usize - base) % 16, 0, "{file}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 2, "{file}");

        // Each constant tensor has its own buffer; runtime tensors use buffer 0.
        let sg = m.subgraphs().unwrap().get(0);
        let mut used = std::collections::HashSet::new();
        for t in sg.tensors().unwrap().iter() {
            if t.buffer() != 0 {
                assert!(
                    used.insert(t.buffer()),
                    "{file}: buffer {} shared",
                    t.buffer()
                );
            }
        }

        // The runtime-version string equals the one TF computed for the same ops.
        let ours =
            metadata_string(&m, "min_runtime_version").expect("min_runtime_version metadata");
        let tf_model = fb::root_as_model(&bytes).unwrap();
        let theirs = metadata_string(&tf_model, "min_runtime_version").expect("TF wrote one");
        assert_eq!(ours, theirs, "{file}");
        let raw = m.buffers().unwrap();
        let entry = m
            .metadata()
            .unwrap()
            .iter()
            .find(|e| e.name() == Some("min_runtime_version"))
            .unwrap();
        assert_eq!(raw.get(entry.buffer() as usize).data().unwrap().len(), 16);

        let sig = m.signature_defs().unwrap().get(0);
        assert_eq!(sig.signature_key(), Some("serving_default"));
    }
}

fn opcode_versions(bytes: &[u8]) -> Vec<(String, i32)> {
    let m = fb::root_as_model(bytes).unwrap();
    let mut v: Vec<(String, i32)> = m
        .operator_codes()
        .unwrap()
        .iter()
        .map(|c| {
            let code = c.builtin_code().0.max(c.deprecated_builtin_code() as i32);
            (
                fb::BuiltinOperator(code)
                    .variant_name()
                    .unwrap()
                    .to_string(),
                c.version(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn opcode_versions_agree_with_tensorflow() {
    for (file, bytes, entry) in fixtures() {
        let written = write(&read(&bytes).unwrap()).unwrap();
        let ours = opcode_versions(&written);
        let mut theirs: Vec<(String, i32)> = entry["operator_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["version"].as_i64().unwrap() as i32,
                )
            })
            .collect();
        theirs.sort();
        assert_eq!(ours, theirs, "{file}");
        // The manifest agrees with the file itself.
        assert_eq!(opcode_versions(&bytes), theirs, "{file}");
    }
    // Spot checks named in the format notes.
    let int8 =
        write(&read(&std::fs::read(fixture_dir().join("mnist_cnn_int8.tflite")).unwrap()).unwrap())
            .unwrap();
    let v = opcode_versions(&int8);
    assert!(v.contains(&("CONV_2D".to_string(), 3)));
    assert!(v.contains(&("FULLY_CONNECTED".to_string(), 4)));
    assert!(v.contains(&("MAX_POOL_2D".to_string(), 2)));
}

fn tiny_fc_model(
    input: DType,
    weights: DType,
    per_channel: bool,
    with_bias: bool,
    fc: FullyConnectedOptions,
) -> Model {
    let mut w = Tensor::constant("w", weights, vec![2, 3], vec![0; 6 * weights.size()]);
    if weights == DType::I8 {
        w.quantization = Some(if per_channel {
            Quantization {
                scale: vec![0.5, 0.25],
                zero_point: vec![0, 0],
                ..Default::default()
            }
        } else {
            Quantization::per_tensor(0.5, 0)
        });
    }
    let mut x = Tensor::activation("x", input, vec![1, 3]);
    let mut y = Tensor::activation("y", input, vec![1, 2]);
    if input == DType::I8 {
        x.quantization = Some(Quantization::per_tensor(0.1, 3));
        y.quantization = Some(Quantization::per_tensor(0.2, -1));
    }
    let mut tensors = vec![x, w, y];
    let mut inputs = vec![0, 1];
    if with_bias {
        let bias_type = if input == DType::I8 {
            DType::I32
        } else {
            DType::F32
        };
        tensors.push(Tensor::constant("b", bias_type, vec![2], vec![0; 8]));
        inputs.push(3);
    }
    let graph = Graph {
        name: None,
        tensors,
        inputs: vec![0],
        outputs: vec![2],
        operators: vec![Operator::new(Op::FullyConnected(fc), inputs, vec![2])],
    };
    Model::with_default_signature(graph)
}

fn fc_version(m: &Model) -> i32 {
    let bytes = write(m).unwrap();
    let v = opcode_versions(&bytes);
    assert_eq!(v.len(), 1);
    v[0].1
}

#[test]
fn fully_connected_versions_follow_tf_rules() {
    let plain = FullyConnectedOptions::default();
    let asym = FullyConnectedOptions {
        asymmetric_quantize_inputs: true,
        ..Default::default()
    };
    let keep = FullyConnectedOptions {
        keep_num_dims: true,
        ..Default::default()
    };
    assert_eq!(
        fc_version(&tiny_fc_model(
            DType::F32,
            DType::F32,
            false,
            true,
            plain.clone()
        )),
        1
    );
    assert_eq!(
        fc_version(&tiny_fc_model(
            DType::I8,
            DType::I8,
            false,
            true,
            plain.clone()
        )),
        4
    );
    assert_eq!(
        fc_version(&tiny_fc_model(
            DType::I8,
            DType::I8,
            true,
            true,
            plain.clone()
        )),
        4
    );
    assert_eq!(
        fc_version(&tiny_fc_model(
            DType::F32,
            DType::I8,
            false,
            true,
            plain.clone()
        )),
        3
    );
    assert_eq!(
        fc_version(&tiny_fc_model(DType::F32, DType::I8, false, true, asym)),
        9
    );
    assert_eq!(
        fc_version(&tiny_fc_model(
            DType::F32,
            DType::I8,
            true,
            true,
            plain.clone()
        )),
        12
    );
    assert_eq!(
        fc_version(&tiny_fc_model(DType::F32, DType::F32, false, false, plain)),
        6
    );
    assert_eq!(
        fc_version(&tiny_fc_model(DType::F32, DType::F32, false, true, keep)),
        5
    );
}

#[test]
fn opcodes_are_deduplicated_per_code_and_version() {
    // Two float FCs share one opcode; an int8 FC alongside would need its own.
    let bytes = std::fs::read(fixture_dir().join("mnist_mlp_float32.tflite")).unwrap();
    let m = read(&bytes).unwrap();
    let written = write(&m).unwrap();
    let fbm = fb::root_as_model(&written).unwrap();
    let codes = fbm.operator_codes().unwrap();
    assert_eq!(codes.len(), 3);
    for c in codes.iter() {
        assert_eq!(c.builtin_code().0, c.deprecated_builtin_code() as i32);
    }
    let sg = fbm.subgraphs().unwrap().get(0);
    let fc_opcodes: Vec<u32> = sg
        .operators()
        .unwrap()
        .iter()
        .filter(|o| {
            codes.get(o.opcode_index() as usize).builtin_code()
                == fb::BuiltinOperator::FULLY_CONNECTED
        })
        .map(|o| o.opcode_index())
        .collect();
    assert_eq!(fc_opcodes.len(), 2);
    assert_eq!(fc_opcodes[0], fc_opcodes[1]);

    let mut mixed = tiny_fc_model(
        DType::F32,
        DType::F32,
        false,
        true,
        FullyConnectedOptions::default(),
    );
    let g = &mut mixed.graph;
    g.tensors
        .push(Tensor::activation("z", DType::F32, vec![1, 2]));
    g.operators.push(Operator::new(
        Op::FullyConnected(FullyConnectedOptions {
            keep_num_dims: true,
            ..Default::default()
        }),
        vec![0, 1, 3],
        vec![4],
    ));
    let v = opcode_versions(&write(&mixed).unwrap());
    assert_eq!(
        v,
        vec![
            ("FULLY_CONNECTED".to_string(), 1),
            ("FULLY_CONNECTED".to_string(), 5)
        ]
    );
}

#[test]
fn model_without_signature_gets_serving_default() {
    let mut m = tiny_fc_model(
        DType::F32,
        DType::F32,
        false,
        true,
        FullyConnectedOptions::default(),
    );
    m.signature = None;
    m.description = Some("made by a test".into());
    let back = read(&write(&m).unwrap()).unwrap();
    let sig = back.signature.unwrap();
    assert_eq!(sig.key, "serving_default");
    assert_eq!(sig.inputs, vec![("x".to_string(), 0)]);
    assert_eq!(sig.outputs, vec![("y".to_string(), 2)]);
    assert_eq!(back.description.as_deref(), Some("made by a test"));
    assert_eq!(back.graph, m.graph);
}

/// One operator of every kind, each with options away from their defaults, plus tensors
/// using every feature the writer serializes: all of it must come back unchanged.
#[test]
fn every_op_and_tensor_feature_round_trips() {
    use ferrolite::ir::{
        Activation, Conv2dOptions, DepthwiseConv2dOptions, DimensionMetadata, IndexVector, Padding,
        Pool2dOptions, Signature, Sparsity, StridedSliceOptions,
    };
    let pool = Pool2dOptions {
        padding: Padding::Valid,
        stride_w: 2,
        stride_h: 3,
        filter_w: 4,
        filter_h: 5,
        activation: Activation::Relu6,
    };
    let ops = vec![
        Op::Add {
            activation: Activation::Relu,
        },
        Op::Sub {
            activation: Activation::ReluN1To1,
        },
        Op::Mul {
            activation: Activation::Tanh,
        },
        Op::Div {
            activation: Activation::SignBit,
        },
        Op::AveragePool2d(pool.clone()),
        Op::MaxPool2d(Pool2dOptions {
            padding: Padding::Same,
            ..pool
        }),
        Op::Concatenation {
            axis: -1,
            activation: Activation::Relu,
        },
        Op::Conv2d(Conv2dOptions {
            padding: Padding::Valid,
            stride_w: 2,
            stride_h: 1,
            dilation_w: 3,
            dilation_h: 2,
            activation: Activation::Relu,
        }),
        Op::DepthwiseConv2d(DepthwiseConv2dOptions {
            padding: Padding::Same,
            stride_w: 1,
            stride_h: 2,
            depth_multiplier: 3,
            dilation_w: 2,
            dilation_h: 1,
            activation: Activation::Relu6,
        }),
        Op::FullyConnected(FullyConnectedOptions {
            activation: Activation::Relu,
            keep_num_dims: true,
            asymmetric_quantize_inputs: true,
            shuffled_weights: true,
        }),
        Op::Dequantize,
        Op::Quantize,
        Op::Densify,
        Op::Logistic,
        Op::Tanh,
        Op::Relu,
        Op::Relu6,
        Op::LeakyRelu { alpha: 0.25 },
        Op::HardSwish,
        Op::Softmax { beta: 0.5 },
        Op::Reshape {
            new_shape: Some(vec![-1, 4]),
        },
        Op::Reshape { new_shape: None },
        Op::Squeeze { dims: vec![0, 2] },
        Op::Shape {
            out_type: DType::I64,
        },
        Op::StridedSlice(StridedSliceOptions {
            begin_mask: 1,
            end_mask: 2,
            ellipsis_mask: 4,
            new_axis_mask: 8,
            shrink_axis_mask: 16,
            offset: true,
        }),
        Op::Pack {
            values_count: 2,
            axis: 1,
        },
        Op::Pad,
        Op::Transpose,
        Op::Mean { keep_dims: true },
    ];
    let mut x = Tensor::activation("x", DType::F32, vec![1, 2, 3, 4]);
    x.shape_signature = Some(vec![-1, 2, 3, 4]);
    let mut q = Tensor::constant("q", DType::I8, vec![2, 3], vec![1, 2, 3, 4, 5, 6]);
    q.quantization = Some(Quantization {
        scale: vec![0.5, 0.25],
        zero_point: vec![0, -3],
        quantized_dimension: 0,
        min: vec![-1.0, -2.0],
        max: vec![1.0, 2.0],
    });
    let mut sparse = Tensor::constant("s", DType::F32, vec![3, 300], vec![0; 12]);
    sparse.sparsity = Some(Sparsity {
        traversal_order: vec![0, 1],
        block_map: vec![],
        dim_metadata: vec![
            DimensionMetadata::Dense { size: 3 },
            DimensionMetadata::SparseCsr {
                segments: IndexVector::I32(vec![0, 1, 2, 3]),
                indices: IndexVector::U16(vec![0, 299, 256]),
            },
        ],
    });
    let mut state = Tensor::activation("state", DType::I16, vec![4]);
    state.is_variable = true;
    let mut tensors = vec![
        x,
        q,
        sparse,
        state,
        Tensor::constant("empty_shape", DType::I64, vec![0], vec![]),
    ];
    let mut operators = Vec::new();
    for (k, op) in ops.into_iter().enumerate() {
        tensors.push(Tensor::activation(format!("out{k}"), DType::F32, vec![1]));
        let out = tensors.len() - 1;
        // As many operands as the op takes (the reader checks counts), with the first
        // optional one omitted so that -1 round-trips too.
        let arity = op.arity();
        let mut inputs: Vec<Option<usize>> = (0..arity.max_inputs.min(4)).map(Some).collect();
        if inputs.len() > arity.min_inputs {
            inputs[arity.min_inputs] = None;
        }
        operators.push(Operator {
            op,
            inputs,
            outputs: vec![out],
        });
    }
    let last = tensors.len() - 1;
    let graph = Graph {
        name: Some("main".into()),
        tensors,
        inputs: vec![0],
        outputs: vec![last, 5],
        operators,
    };
    let model = Model {
        graph,
        description: Some("all ops".into()),
        signature: Some(Signature {
            key: "serving_default".into(),
            inputs: vec![("image".into(), 0)],
            outputs: vec![("logits".into(), last), ("first".into(), 5)],
        }),
    };
    let bytes = write(&model).unwrap();
    let mut back = read(&bytes).unwrap();
    // A constant without elements has an empty buffer, which the format cannot tell apart
    // from a runtime tensor.
    assert_eq!(back.graph.tensors[4].data, None);
    back.graph.tensors[4].data = Some(vec![]);
    assert_eq!(back, model);
}
