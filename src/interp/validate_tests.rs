//! `ir::Graph::validate`, checked on its own and through the planner, which must return
//! the same error instead of panicking. (These tests live with the interpreter so that
//! `ir` never imports it.)

use crate::interp::{Plan, PlanError};
use crate::ir::{Activation, DType, Graph, GraphError, Model, Op, Operator, Quantization, Tensor};

/// x[1,4] + c[1,4] -> y[1,4], a graph every check accepts.
fn add_graph() -> Graph {
    Graph {
        name: None,
        tensors: vec![
            Tensor::activation("x", DType::F32, vec![1, 4]),
            Tensor::constant_f32("c", vec![1, 4], &[1.0, 2.0, 3.0, 4.0]),
            Tensor::activation("y", DType::F32, vec![1, 4]),
        ],
        inputs: vec![0],
        outputs: vec![2],
        operators: vec![Operator::new(
            Op::Add {
                activation: Activation::None,
            },
            vec![0, 1],
            vec![2],
        )],
    }
}

/// Both the check itself and the planner, which must return it and not panic.
fn refused(graph: Graph) -> GraphError {
    let err = graph.validate().expect_err("graph should be refused");
    let model = Model {
        graph,
        ..Default::default()
    };
    match Plan::new(&model, &[vec![1, 4]]) {
        Err(PlanError::Graph(e)) => assert_eq!(e, err),
        Err(other) => panic!("planner gave {other}, expected the graph error {err}"),
        Ok(_) => panic!("planner accepted a graph validate refuses: {err}"),
    }
    err
}

#[test]
fn a_sound_graph_passes_and_plans() {
    let g = add_graph();
    assert_eq!(g.validate(), Ok(()));
    let model = Model::with_default_signature(g);
    assert_eq!(model.validate(), Ok(()));
    assert!(Plan::new(&model, &[vec![1, 4]]).is_ok());
}

#[test]
fn out_of_range_operand_is_named() {
    let mut g = add_graph();
    g.operators[0].inputs[1] = Some(7);
    let e = refused(g);
    assert_eq!(
        e,
        GraphError::TensorIndex {
            what: "operator #0 (ADD) input 1".into(),
            index: 7,
            count: 3
        }
    );
    let mut g = add_graph();
    g.operators[0].outputs[0] = 3;
    assert!(matches!(
        refused(g),
        GraphError::TensorIndex { index: 3, .. }
    ));
    let mut g = add_graph();
    g.outputs = vec![9];
    assert!(
        matches!(refused(g), GraphError::TensorIndex { what, index: 9, .. } if what == "graph output list")
    );
}

#[test]
fn out_of_range_graph_input_is_refused_before_the_planner_indexes_it() {
    let mut g = add_graph();
    g.inputs = vec![5];
    assert!(
        matches!(refused(g), GraphError::TensorIndex { what, index: 5, .. } if what == "graph input list")
    );
}

#[test]
fn operand_counts_follow_the_op() {
    let mut g = add_graph();
    g.operators[0].inputs.push(Some(1));
    assert_eq!(
        refused(g),
        GraphError::InputCount {
            index: 0,
            op: "ADD",
            expected: "2".into(),
            got: 3
        }
    );
    // A trailing omitted operand names nothing and is tolerated.
    let mut g = add_graph();
    g.operators[0].inputs.push(None);
    assert_eq!(g.validate(), Ok(()));
    let mut g = add_graph();
    g.operators[0].outputs.push(1);
    assert!(matches!(
        refused(g),
        GraphError::OutputCount {
            expected: 1,
            got: 2,
            ..
        }
    ));
    let mut g = add_graph();
    g.operators[0].inputs[0] = None;
    assert_eq!(
        refused(g),
        GraphError::MissingInput {
            index: 0,
            op: "ADD",
            slot: 0
        }
    );
}

#[test]
fn an_omitted_bias_is_allowed_an_omitted_weight_is_not() {
    let mut g = add_graph();
    g.tensors[1] = Tensor::constant_f32("w", vec![4, 4], &[0.0; 16]);
    g.operators[0] = Operator {
        op: Op::FullyConnected(Default::default()),
        inputs: vec![Some(0), Some(1), None],
        outputs: vec![2],
    };
    assert_eq!(g.validate(), Ok(()));
    g.operators[0].inputs[1] = None;
    assert!(matches!(
        g.validate(),
        Err(GraphError::MissingInput {
            slot: 1,
            op: "FULLY_CONNECTED",
            ..
        })
    ));
}

#[test]
fn constant_bytes_must_match_the_shape() {
    let mut g = add_graph();
    if let Some(d) = g.tensors[1].data.as_mut() {
        d.truncate(12);
    }
    assert_eq!(
        refused(g),
        GraphError::ConstantSize {
            tensor: 1,
            name: "c".into(),
            shape: vec![1, 4],
            dtype: DType::F32,
            need: 16,
            have: 12
        }
    );
    let mut g = add_graph();
    if let Some(d) = g.tensors[1].data.as_mut() {
        d.extend([0; 4]);
    }
    assert!(matches!(
        refused(g),
        GraphError::ConstantSize {
            need: 16,
            have: 20,
            ..
        }
    ));
}

#[test]
fn oversized_and_overflowing_shapes_are_refused() {
    let mut g = add_graph();
    // 2^28 float32 elements: 1 GiB exactly fits, one more element does not.
    g.tensors[2].shape = vec![1 << 28];
    assert_eq!(g.validate(), Ok(()));
    g.tensors[2].shape = vec![(1 << 28) + 1];
    assert!(matches!(refused(g), GraphError::TooLarge { tensor: 2, .. }));
    let mut g = add_graph();
    g.tensors[2].shape = vec![usize::MAX, 2];
    assert!(matches!(refused(g), GraphError::TooLarge { .. }));
}

#[test]
fn quantization_tables_must_agree_with_the_shape() {
    let mut g = add_graph();
    g.tensors[0].quantization = Some(Quantization {
        scale: vec![0.5, 0.5],
        zero_point: vec![0],
        ..Default::default()
    });
    assert!(matches!(
        refused(g),
        GraphError::Quantization { tensor: 0, .. }
    ));
    let mut g = add_graph();
    g.tensors[0].quantization = Some(Quantization {
        scale: vec![0.5; 3],
        zero_point: vec![0; 3],
        quantized_dimension: 1,
        ..Default::default()
    });
    assert!(matches!(refused(g), GraphError::Quantization { .. }));
    let mut g = add_graph();
    g.tensors[0].quantization = Some(Quantization {
        quantized_dimension: 2,
        ..Quantization::per_tensor(0.5, 0)
    });
    assert!(matches!(refused(g), GraphError::Quantization { .. }));
}

#[test]
fn signature_indices_are_checked() {
    let mut model = Model::with_default_signature(add_graph());
    if let Some(sig) = model.signature.as_mut() {
        sig.outputs[0].1 = 4;
    }
    assert!(matches!(
        model.validate(),
        Err(GraphError::TensorIndex { index: 4, .. })
    ));
}

#[test]
fn split_needs_at_least_one_output() {
    let graph = Graph {
        name: None,
        tensors: vec![
            Tensor::constant_i32("axis", vec![], &[0]),
            Tensor::activation("x", DType::F32, vec![2]),
        ],
        inputs: vec![1],
        outputs: vec![1],
        operators: vec![Operator::new(
            Op::Split { num_splits: 1 },
            vec![0, 1],
            vec![],
        )],
    };
    let err = graph.validate().unwrap_err();
    assert!(err.to_string().contains("has 0 outputs"), "{err}");
}
