#![cfg_attr(not(feature = "cli"), allow(unused_imports))]
//! Knowledge distillation: the loss (values, gradient, special cases), the frozen and
//! cached teacher, determinism, and `ferrolite distill` through the binary.

use std::path::Path;
use std::process::Output;

use ferrolite::nn::distill::check_compatible;
use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    distill, distill_from_logits, distillation_loss, fit, sparse_softmax_cross_entropy,
    teacher_logits, Adam, Dataset, DistillConfig, DistillLoss, FitConfig, LayerSpec, Loss,
    NoCallback, Sequential, SparseCategoricalCrossentropy, Tensor,
};

mod common;
#[cfg(feature = "cli")]
use common::{assert_one_line_error, bin};

fn t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::new(shape.to_vec(), data.to_vec()).unwrap()
}

fn cfg(alpha: f32, temperature: f32) -> DistillConfig {
    DistillConfig { alpha, temperature }
}

#[test]
fn loss_terms_and_gradient_by_hand_2x3() {
    let student = t(&[2, 3], &[1.0, 2.0, 0.5, 0.0, -1.0, 1.0]);
    let teacher = t(&[2, 3], &[2.0, 1.0, 0.0, 0.5, 0.5, 3.0]);
    let (loss, terms, grad) =
        distillation_loss(&student, &teacher, &[1, 2], &cfg(0.25, 2.0)).unwrap();
    // Worked out in f64 from the definitions: CE = mean −ln softmax(s)[y];
    // kd = T²·mean Σ p ln(p/q) with p = softmax(t/T), q = softmax(s/T);
    // dL/ds = α(softmax(s) − onehot)/B + (1−α)·T·(q − p)/B.
    assert!((terms.ce - 0.435_987_4).abs() < 1e-6, "{terms:?}");
    assert!((terms.kd - 0.299_540_4).abs() < 1e-6, "{terms:?}");
    assert!((loss - 0.333_652_1).abs() < 1e-6, "{loss}");
    let want = [
        -0.132_140_33,
        0.083_937_75,
        0.048_202_59,
        0.124_384_48,
        0.014_393_13,
        -0.138_777_61,
    ];
    for (g, w) in grad.data.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{:?} vs {want:?}", grad.data);
    }
}

#[test]
fn kd_term_carries_the_t_squared_factor() {
    // softmax([ln 3, 0]) = [3/4, 1/4] against [1/2, 1/2]:
    // KLD = 3/4·ln(3/2) + 1/4·ln(1/2) = 0.130812...
    let kld = 0.75f64 * 1.5f64.ln() + 0.25 * 0.5f64.ln();
    let s = t(&[1, 2], &[0.0, 0.0]);
    let (loss1, terms1, _) =
        distillation_loss(&s, &t(&[1, 2], &[3f32.ln(), 0.0]), &[0], &cfg(0.0, 1.0)).unwrap();
    assert!((f64::from(terms1.kd) - kld).abs() < 1e-6, "{terms1:?}");
    assert_eq!(loss1, terms1.kd, "α = 0 leaves only the teacher term");
    // Same softened teacher at T = 2 (logits doubled): the KLD is unchanged, the term is 4×.
    let (_, terms2, _) = distillation_loss(
        &s,
        &t(&[1, 2], &[2.0 * 3f32.ln(), 0.0]),
        &[0],
        &cfg(0.0, 2.0),
    )
    .unwrap();
    assert!(
        (f64::from(terms2.kd) - 4.0 * kld).abs() < 1e-5,
        "{terms2:?}"
    );
}

#[test]
fn gradient_matches_finite_differences_including_clipped_rows() {
    let mut rng = Rng::new(11);
    let (b, c) = (4, 5);
    let mut s: Vec<f32> = (0..b * c).map(|_| rng.uniform(-3.0, 3.0)).collect();
    let mut te: Vec<f32> = (0..b * c).map(|_| rng.uniform(-3.0, 3.0)).collect();
    // Row 3: the student is so sure at T = 1.5 that its other probabilities fall below
    // Keras' 1e-7 clip (no gradient there), and the teacher's too (clipped p).
    s[15..20].copy_from_slice(&[30.0, 0.0, 1.0, -1.0, 0.5]);
    te[15..20].copy_from_slice(&[0.0, 40.0, 0.0, 0.0, 0.0]);
    let labels = [0u8, 4, 2, 1];
    let teacher = t(&[b, c], &te);
    let config = cfg(0.3, 1.5);
    let (_, _, grad) = distillation_loss(&t(&[b, c], &s), &teacher, &labels, &config).unwrap();
    let loss_at = |z: &[f32]| {
        distillation_loss(&t(&[b, c], z), &teacher, &labels, &config)
            .unwrap()
            .0
    };
    let eps = 1e-2f32;
    for i in 0..s.len() {
        let (mut up, mut down) = (s.clone(), s.clone());
        up[i] += eps;
        down[i] -= eps;
        let numeric = (loss_at(&up) - loss_at(&down)) / (2.0 * eps);
        assert!(
            (numeric - grad.data[i]).abs() < 2e-3,
            "logit {i}: numeric {numeric} analytic {}",
            grad.data[i]
        );
    }
}

#[test]
fn alpha_one_is_plain_cross_entropy() {
    let s = t(&[2, 3], &[0.3, -1.2, 2.0, 5.0, 0.0, -5.0]);
    let teacher = t(&[2, 3], &[9.0, -9.0, 0.0, 0.0, 1.0, 2.0]);
    let (loss, terms, grad) = distillation_loss(&s, &teacher, &[2, 1], &cfg(1.0, 7.0)).unwrap();
    let (ce, ce_grad) = sparse_softmax_cross_entropy(&s, &[2, 1]).unwrap();
    assert_eq!(loss, ce);
    assert_eq!(terms.ce, ce);
    assert!(terms.kd > 0.0, "the teacher term is still measured");
    assert_eq!(grad.data, ce_grad.data);
}

#[test]
fn bad_settings_are_refused() {
    let s = t(&[1, 2], &[0.0, 1.0]);
    for bad in [
        cfg(-0.1, 2.0),
        cfg(1.5, 2.0),
        cfg(f32::NAN, 2.0),
        cfg(0.5, 0.0),
        cfg(0.5, -1.0),
        cfg(0.5, f32::INFINITY),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(distillation_loss(&s, &s, &[0], &bad).is_err(), "{bad:?}");
        assert!(DistillLoss::new(s.clone(), bad).is_err(), "{bad:?}");
    }
    assert!(cfg(0.0, 0.5).validate().is_ok() && cfg(1.0, 20.0).validate().is_ok());
    // Teacher and student logits must have the same shape.
    let three = t(&[1, 3], &[0.0, 1.0, 2.0]);
    assert!(distillation_loss(&s, &three, &[0], &cfg(0.5, 2.0)).is_err());
}

#[test]
fn cached_teacher_rows_are_looked_up_by_index() {
    let cache = t(&[3, 2], &[5.0, 0.0, 0.0, 0.0, -2.0, 4.0]);
    let mut loss = DistillLoss::new(cache, cfg(0.4, 3.0)).unwrap();
    let s = t(&[2, 2], &[0.5, 0.25, 1.0, -1.0]);
    let (got, grad) = loss.compute(&s, &[1, 0], &[2, 0]).unwrap();
    // Rows 2 and 0 of the cache, in that order.
    let picked = t(&[2, 2], &[-2.0, 4.0, 5.0, 0.0]);
    let (want, terms, want_grad) = distillation_loss(&s, &picked, &[1, 0], &cfg(0.4, 3.0)).unwrap();
    assert_eq!(got, want);
    assert_eq!(grad.data, want_grad.data);
    assert_eq!(loss.terms(), terms);
    // The other order is a different loss: the lookup follows the indices.
    let (swapped, _) = loss.compute(&s, &[1, 0], &[0, 2]).unwrap();
    assert_ne!(swapped, got);
    // An index past the cache is an error, not a panic.
    assert!(loss.compute(&s, &[1, 0], &[3, 0]).is_err());
    assert!(loss.compute(&s, &[1, 0], &[0]).is_err());
}

/// A small synthetic problem: 4×4 "images", 3 classes from which quadrant is brightest.
fn toy_data(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(n * 16);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 3) as u8;
        for p in 0..16 {
            let bright = (p / 4) * 3 / 4 == usize::from(class) % 4;
            x.push(rng.uniform(0.0, 0.5) + if bright { 0.5 } else { 0.0 });
        }
        y.push(class);
    }
    (x, y)
}

fn mlp(hidden: usize, classes: usize, seed: u64) -> Sequential {
    Sequential::new(
        &[4, 4],
        vec![
            LayerSpec::Flatten {},
            LayerSpec::dense_with(hidden, ferrolite::nn::Activation::Relu),
            LayerSpec::dense(classes),
        ],
        seed,
    )
    .unwrap()
}

fn weights(m: &Sequential) -> Vec<Vec<f32>> {
    m.layers()
        .iter()
        .flat_map(|l| l.params().iter().map(|p| p.value.clone()))
        .collect()
}

fn fit_config(seed: u64) -> FitConfig {
    FitConfig {
        epochs: 2,
        batch_size: 16,
        validation_split: 0.2,
        shuffle: true,
        seed,
    }
}

#[test]
fn teacher_stays_frozen_and_runs_deterministically() {
    let (x, y) = toy_data(120, 1);
    let shape = [4, 4];
    let data = Dataset::new(&x, &shape, &y).unwrap();
    let mut teacher = mlp(16, 3, 5);
    fit(
        &mut teacher,
        &mut Adam::new(1e-2),
        &mut SparseCategoricalCrossentropy,
        &data,
        &fit_config(9),
        &mut NoCallback,
    )
    .unwrap();
    let teacher_before = weights(&teacher);
    let teacher_steps = teacher.steps();

    let run = |teacher: &mut Sequential| {
        let mut student = mlp(4, 3, 3);
        let report = distill(
            &mut student,
            teacher,
            &mut Adam::new(1e-2),
            &data,
            &fit_config(4),
            &cfg(0.5, 4.0),
            &mut NoCallback,
        )
        .unwrap();
        (weights(&student), report.epochs)
    };
    let (w1, e1) = run(&mut teacher);
    assert_eq!(weights(&teacher), teacher_before, "teacher weights changed");
    assert_eq!(
        teacher.steps(),
        teacher_steps,
        "teacher ran in training mode"
    );
    assert_eq!(e1.len(), 2);
    for e in &e1 {
        assert!(e.terms.ce > 0.0 && e.terms.kd > 0.0, "{e:?}");
        assert!(e.summary.val_accuracy.is_some());
        // The epoch loss is the α-weighted sum of the two terms (α = 0.5).
        let combined = 0.5 * e.terms.ce + 0.5 * e.terms.kd;
        assert!((e.summary.loss - combined).abs() < 1e-4, "{e:?}");
    }
    let (w2, e2) = run(&mut teacher);
    assert_eq!(w1, w2, "same seed, different student");
    let figures = |es: &[ferrolite::nn::DistillEpoch]| {
        es.iter()
            .map(|e| (e.terms, e.summary.loss, e.summary.val_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(figures(&e1), figures(&e2));
    assert_ne!(w1, weights(&mlp(4, 3, 3)), "the student did not train");
}

#[test]
fn alpha_one_trains_exactly_like_the_student_alone() {
    // The control arm of the comparison: same seed, same batches in the same order.
    let (x, y) = toy_data(90, 2);
    let shape = [4, 4];
    let data = Dataset::new(&x, &shape, &y).unwrap();
    let mut teacher = mlp(8, 3, 1);
    let mut distilled = mlp(4, 3, 6);
    distill(
        &mut distilled,
        &mut teacher,
        &mut Adam::new(1e-2),
        &data,
        &fit_config(2),
        &cfg(1.0, 3.0),
        &mut NoCallback,
    )
    .unwrap();
    let mut alone = mlp(4, 3, 6);
    fit(
        &mut alone,
        &mut Adam::new(1e-2),
        &mut SparseCategoricalCrossentropy,
        &data,
        &fit_config(2),
        &mut NoCallback,
    )
    .unwrap();
    assert_eq!(weights(&distilled), weights(&alone));
}

#[test]
fn mismatched_teacher_and_student_are_refused() {
    let (x, y) = toy_data(30, 3);
    let shape = [4, 4];
    let data = Dataset::new(&x, &shape, &y).unwrap();
    let mut teacher = mlp(8, 3, 1);
    // Four classes against three.
    let mut student = mlp(4, 4, 1);
    assert!(check_compatible(&student, &teacher).is_err());
    let err = distill(
        &mut student,
        &mut teacher,
        &mut Adam::new(1e-2),
        &data,
        &fit_config(1),
        &cfg(0.5, 2.0),
        &mut NoCallback,
    )
    .unwrap_err();
    assert!(err.to_string().contains("class"), "{err}");
    // A different input shape.
    let mut wide = Sequential::new(&[16], vec![LayerSpec::dense(3)], 1).unwrap();
    assert!(check_compatible(&wide, &teacher).is_err());
    assert!(distill(
        &mut wide,
        &mut teacher,
        &mut Adam::new(1e-2),
        &data,
        &fit_config(1),
        &cfg(0.5, 2.0),
        &mut NoCallback,
    )
    .is_err());
    // Cached logits for a different number of samples.
    let logits = teacher_logits(&mut teacher, &data).unwrap();
    let (short, _) = data.split_at(20);
    let mut student = mlp(4, 3, 1);
    assert!(distill_from_logits(
        &mut student,
        &logits,
        &mut Adam::new(1e-2),
        &short,
        &fit_config(1),
        &cfg(0.5, 2.0),
        &mut NoCallback,
    )
    .is_err());
}

// ---- the binary ----

#[cfg(feature = "cli")]
fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

#[cfg(feature = "cli")]
fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[cfg(feature = "cli")]
#[test]
fn cli_distill_small_teacher_records_the_setting() {
    let d = common::scratch("distill-cli");
    let teacher = d.join("teacher");
    let out = run(&[
        "train",
        "--preset",
        "mnist-mlp",
        "--epochs",
        "1",
        "--limit",
        "600",
        "--out",
        s(&teacher),
    ]);
    common::assert_success(&out);

    let student = d.join("student");
    let out = run(&[
        "distill",
        "--teacher",
        s(&teacher),
        "--student-preset",
        "mnist-student",
        "--alpha",
        "0.3",
        "--temperature",
        "5",
        "--epochs",
        "2",
        "--limit",
        "600",
        "--validation-split",
        "0.1",
        "-o",
        s(&student),
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let j: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let epochs = j["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        assert!(e["ce"].as_f64().unwrap() > 0.0 && e["kd"].as_f64().unwrap() > 0.0);
        assert!(e["val_accuracy"].as_f64().is_some());
    }
    assert_eq!(j["train_samples"], 540);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.3 && acc <= 1.0, "{acc}");
    assert!(
        stderr.contains("epoch 2/2: loss") && stderr.contains("kd "),
        "{stderr}"
    );
    assert!(stderr.contains("student test accuracy"), "{stderr}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(student.join("model.json")).unwrap())
            .unwrap();
    let rec = &json["training"]["distillation"];
    assert_eq!(rec["teacher"], s(&teacher));
    assert_eq!(rec["teacher_name"], "mnist-mlp");
    assert!((rec["alpha"].as_f64().unwrap() - 0.3).abs() < 1e-6, "{rec}");
    assert_eq!(rec["temperature"].as_f64().unwrap(), 5.0);
    assert!(rec["teacher_test_accuracy"].as_f64().is_some());
    // The student is an ordinary model directory.
    let e = run(&["evaluate", s(&student), "--json"]);
    assert!(e.status.success());

    // Refusals: one line each, nothing written.
    let base = ["distill", "--teacher", s(&teacher), "--limit", "100"];
    let refused = |extra: &[&str], mention: &str| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        assert_one_line_error(&run(&args), mention);
    };
    let fresh = d.join("never");
    refused(
        &[
            "--student-preset",
            "mnist-student",
            "--alpha",
            "1.5",
            "-o",
            s(&fresh),
        ],
        "--alpha",
    );
    refused(
        &[
            "--student-preset",
            "mnist-student",
            "--alpha",
            "-0.5",
            "-o",
            s(&fresh),
        ],
        "--alpha",
    );
    refused(
        &[
            "--student-preset",
            "mnist-student",
            "--temperature",
            "0",
            "-o",
            s(&fresh),
        ],
        "--temperature",
    );
    refused(
        &["--student-preset", "mnist-student", "-o", s(&student)],
        "refusing to overwrite",
    );
    // A student with 5 classes against the 10-class teacher.
    let arch = d.join("five.json");
    std::fs::write(
        &arch,
        r#"{"name": "five", "input_shape": [28, 28], "layers": [
            {"name": "flatten", "class_name": "Flatten", "config": {}},
            {"name": "dense", "class_name": "Dense", "config": {"units": 5}}]}"#,
    )
    .unwrap();
    refused(&["--student-arch", s(&arch), "-o", s(&fresh)], "class");
    assert_one_line_error(
        &run(&[
            "distill",
            "--teacher",
            s(&d),
            "--student-preset",
            "mnist-student",
            "-o",
            s(&fresh),
        ]),
        "no model",
    );
    assert!(!fresh.exists());
}

#[test]
fn convnet_teacher_preset_has_keras_param_count() {
    // conv 3·3·1·32+32, conv 3·3·32·64+64, dense (5·5·64)·10+10 after two valid convs and
    // two 2×2 pools (28 → 26 → 13 → 11 → 5).
    let m = ferrolite::nn::presets::by_name("mnist-convnet", 1)
        .unwrap()
        .unwrap();
    assert_eq!(m.param_count(), (320 + 18_496 + 16_010, 0));
    assert_eq!(m.output_shape(), &[10]);
    assert_eq!(m.input_shape(), &[28, 28]);
}
