//! What one experiment run measured (`report.json`) and its Markdown rendering
//! (`report.md`), with the study's published numbers beside ours.

use std::fmt::Write;

use serde::Serialize;

use super::Settings;

/// Part 1: float vs full-integer `.tflite` of the same trained model.
#[derive(Clone, Debug, Serialize)]
pub struct Ptq {
    pub float_accuracy: f64,
    pub int8_accuracy: f64,
    /// Accuracy of the trained model itself (nn forward pass), for comparison.
    pub keras_accuracy: f64,
    pub float_bytes: usize,
    pub int8_bytes: usize,
    pub float_zip_bytes: usize,
    pub int8_zip_bytes: usize,
    pub train_seconds: f64,
    pub convert_seconds: f64,
    /// The cross-check of both files against tract.
    pub tract: Vec<TractCheck>,
}

/// ferrolite against tract on the same inputs.
#[derive(Clone, Debug, Serialize)]
pub struct TractCheck {
    pub file: String,
    /// "original file", "lowered twin", or why tract could not run it.
    pub how: String,
    pub agree: Option<bool>,
    pub max_abs_diff: Option<f64>,
    pub note: Option<String>,
}

/// Sparsity reached by one pruned weight.
#[derive(Clone, Debug, Serialize)]
pub struct LayerSparsity {
    pub layer: String,
    pub weights: usize,
    pub zeros: usize,
    pub sparsity: f64,
}

/// Part 2: baseline, pruned, pruned + int8.
#[derive(Clone, Debug, Serialize)]
pub struct Pruning {
    pub baseline_accuracy: f64,
    /// The pruned model directory (float, nn forward pass).
    pub pruned_accuracy: f64,
    /// The pruned float sparse `.tflite` (must equal `pruned_accuracy`).
    pub pruned_tflite_accuracy: f64,
    pub pruned_int8_accuracy: f64,
    /// Zeros / weights over all pruned kernels.
    pub sparsity: f64,
    pub layers: Vec<LayerSparsity>,
    pub baseline_bytes: usize,
    pub pruned_bytes: usize,
    pub pruned_int8_bytes: usize,
    pub baseline_zip_bytes: usize,
    pub pruned_zip_bytes: usize,
    pub pruned_int8_zip_bytes: usize,
    /// baseline_bytes / pruned_int8_bytes.
    pub size_ratio: f64,
    pub zip_size_ratio: f64,
    /// The same schedule with element masks: more accurate, larger int8 file.
    pub element_masks: ElementMasks,
    /// Notes from the pruner and encoder (e.g. partial blocks zeroed).
    pub notes: Vec<String>,
}

/// Part 2 again with element masks on every kernel.
#[derive(Clone, Debug, Serialize)]
pub struct ElementMasks {
    pub pruned_accuracy: f64,
    pub pruned_int8_accuracy: f64,
    pub pruned_int8_bytes: usize,
    pub pruned_int8_zip_bytes: usize,
}

/// One distillation setting over all seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SweepRow {
    pub alpha: f32,
    pub temperature: f32,
    pub distilled_accuracy: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    /// Seeds on which the distilled student beat the scratch one.
    pub wins: usize,
}

/// Part 3: a frozen teacher, distilled students and the same students trained alone.
#[derive(Clone, Debug, Serialize)]
pub struct Distillation {
    pub teacher: String,
    pub teacher_accuracy: f64,
    pub teacher_params: usize,
    pub teacher_seconds: f64,
    pub student: String,
    pub student_params: usize,
    pub epochs: usize,
    pub seeds: Vec<u64>,
    /// The headline setting (the first of the sweep).
    pub alpha: f32,
    pub temperature: f32,
    pub distilled_accuracy: Vec<f64>,
    pub scratch_accuracy: Vec<f64>,
    pub distilled_mean: f64,
    pub distilled_std: f64,
    pub scratch_mean: f64,
    pub scratch_std: f64,
    pub sweep: Vec<SweepRow>,
}

/// One file the run wrote, for the accuracy-against-size chart.
#[derive(Clone, Debug, Serialize)]
pub struct Artifact {
    pub file: String,
    pub bytes: usize,
    pub zip_bytes: usize,
    pub accuracy: f64,
}

/// Everything `report.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub ptq: Ptq,
    pub pruning: Pruning,
    pub distillation: Distillation,
    pub artifacts: Vec<Artifact>,
    pub settings: Settings,
    pub quick: bool,
    pub seed: u64,
    pub seconds: f64,
    pub written_by: String,
}

/// Mean and sample standard deviation (n − 1; 0 for fewer than two values).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// "1 epoch", "5 epochs".
pub fn epochs(n: usize) -> String {
    if n == 1 {
        "1 epoch".into()
    } else {
        format!("{n} epochs")
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn bytes(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|&v| pct(v))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// `report.md`: the study's tables with ferrolite's numbers beside the published ones.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    let s_ = &r.settings;
    let _ = writeln!(s, "# ferrolite compression study\n");
    let _ = writeln!(
        s,
        "Every number below was measured by this run of `ferrolite experiment{}` ({:.0} s, {}). \
Accuracies are top-1 on the 10,000 MNIST test images; `.tflite` accuracies come from \
ferrolite's interpreter, which is bit-exact with LiteRT's reference kernels. \"Study\" is the \
published course assignment done with TensorFlow; \"TF here\" is TensorFlow 2.21 on this kind of \
2-core machine (`shared/docs/study.md`).\n",
        if r.quick { " --quick" } else { "" },
        r.seconds,
        r.written_by
    );
    if r.quick {
        let _ = writeln!(
            s,
            "> **Quick run**: {} training images, 1 epoch per stage — a smoke test of every stage, \
not the study's numbers.\n",
            s_.train_limit.map_or("all".into(), |n| n.to_string())
        );
    }

    let _ = writeln!(s, "## Verdict\n");
    let mark = |ok: bool| if ok { "yes" } else { "**no**" };
    let (p, q, d) = (&r.ptq, &r.pruning, &r.distillation);
    let _ = writeln!(
        s,
        "- int8 within 0.5 pp of float: {} ({:+.2} pp)",
        mark((p.int8_accuracy - p.float_accuracy).abs() <= 0.005),
        (p.int8_accuracy - p.float_accuracy) * 100.0
    );
    let _ = writeln!(
        s,
        "- pruned + int8 within 1 pp of the baseline: {} ({:+.2} pp with {}×{} blocks; {:+.2} pp with element masks)",
        mark(q.baseline_accuracy - q.pruned_int8_accuracy <= 0.01),
        (q.pruned_int8_accuracy - q.baseline_accuracy) * 100.0,
        s_.prune_block[0],
        s_.prune_block[1],
        (q.element_masks.pruned_int8_accuracy - q.baseline_accuracy) * 100.0
    );
    let _ = writeln!(
        s,
        "- pruned + int8 at most 1/10 of the baseline's raw bytes: {} ({:.1}× with blocks; {:.1}× raw, {:.1}× zipped with element masks)",
        mark(q.size_ratio >= 10.0),
        q.size_ratio,
        q.baseline_bytes as f64 / q.element_masks.pruned_int8_bytes.max(1) as f64,
        q.baseline_zip_bytes as f64 / q.element_masks.pruned_int8_zip_bytes.max(1) as f64
    );
    let _ = writeln!(
        s,
        "- the float sparse file exactly as accurate as the pruned model: {}",
        mark(q.pruned_accuracy == q.pruned_tflite_accuracy)
    );
    let _ = writeln!(
        s,
        "- distilled mean at or above the scratch mean: {} ({:+.2} pp over {} seeds)\n",
        mark(d.distilled_mean >= d.scratch_mean),
        (d.distilled_mean - d.scratch_mean) * 100.0,
        d.seeds.len()
    );

    let _ = writeln!(s, "## Part 1 — post-training full-integer quantization\n");
    let _ = writeln!(
        s,
        "mnist-cnn (Conv2D 12 3×3 → MaxPool → Dense 10), Adam, {}; int8 with uint8 input \
and output, calibrated on {} training images.\n",
        epochs(s_.ptq_epochs),
        s_.calibration
    );
    let _ = writeln!(s, "| | study | TF here | ferrolite |\n|---|---|---|---|");
    let _ = writeln!(
        s,
        "| float `.tflite` accuracy | 97.89% | 98.06% | {} |",
        pct(p.float_accuracy)
    );
    let _ = writeln!(
        s,
        "| int8 `.tflite` accuracy | 97.92% | 98.07% | {} |",
        pct(p.int8_accuracy)
    );
    let _ = writeln!(
        s,
        "| int8 − float | +0.03 pp | +0.01 pp | {:+.2} pp |",
        (p.int8_accuracy - p.float_accuracy) * 100.0
    );
    let _ = writeln!(
        s,
        "| float / int8 file bytes | — | 84,848 / 24,848 | {} / {} |",
        bytes(p.float_bytes),
        bytes(p.int8_bytes)
    );
    let _ = writeln!(
        s,
        "| training seconds ({}) | — | 16–23 per epoch | {:.1} |",
        epochs(s_.ptq_epochs),
        p.train_seconds
    );
    let _ = writeln!(
        s,
        "| int8 conversion seconds | — | 2.2 | {:.3} |\n",
        p.convert_seconds
    );
    let _ = writeln!(s, "Cross-check against tract (first 8 test images):\n");
    for t in &p.tract {
        let verdict = match (t.agree, t.max_abs_diff) {
            (Some(true), Some(d)) => format!("agree (max difference {d:.3e})"),
            (Some(false), Some(d)) => format!("**disagree** (max difference {d:.3e})"),
            _ => "not checked".into(),
        };
        let _ = writeln!(
            s,
            "- `{}` ({}): {}{}",
            t.file,
            t.how,
            verdict,
            t.note
                .as_ref()
                .map(|n| format!(" — {n}"))
                .unwrap_or_default()
        );
    }

    let _ = writeln!(s, "\n## Part 2 — magnitude pruning, then pruning + int8\n");
    let _ = writeln!(
        s,
        "Baseline: mnist-cnn, {}, validation split 0.1. Pruned with a polynomial schedule \
{:.0}% → {:.0}% (TF Model Optimization's rules), {}×{} blocks on the Dense kernel, fine-tuned \
{} at batch {}. The sparse `.tflite` files store only the kept weights (TFLite \
SparsityParameters), so they are small before zip too.\n",
        epochs(s_.baseline_epochs),
        s_.initial_sparsity * 100.0,
        s_.final_sparsity * 100.0,
        s_.prune_block[0],
        s_.prune_block[1],
        epochs(s_.prune_epochs),
        s_.prune_batch_size
    );
    let _ = writeln!(s, "| | study | TF here | ferrolite |\n|---|---|---|---|");
    let _ = writeln!(
        s,
        "| baseline accuracy | 97.87% | 97.85% | {} |",
        pct(q.baseline_accuracy)
    );
    let _ = writeln!(
        s,
        "| pruned accuracy | 97.09% | 97.23% | {} (`.tflite`: {}) |",
        pct(q.pruned_accuracy),
        pct(q.pruned_tflite_accuracy)
    );
    let _ = writeln!(
        s,
        "| pruned + quantized accuracy | 97.05% (dynamic range) | 97.24% | {} (full int8) |",
        pct(q.pruned_int8_accuracy)
    );
    let _ = writeln!(
        s,
        "| sparsity of pruned weights | 80% | 80% | {:.2}% |",
        q.sparsity * 100.0
    );
    let _ = writeln!(
        s,
        "| baseline `.tflite` bytes (zipped) | — | 84,848 (78,154) | {} ({}) |",
        bytes(q.baseline_bytes),
        bytes(q.baseline_zip_bytes)
    );
    let _ = writeln!(
        s,
        "| pruned `.tflite` bytes (zipped) | — (25,217) | 84,848 (25,030) | {} ({}) |",
        bytes(q.pruned_bytes),
        bytes(q.pruned_zip_bytes)
    );
    let _ = writeln!(
        s,
        "| pruned + quantized `.tflite` bytes (zipped) | — (8,130) | 24,192 (8,656) | {} ({}) |",
        bytes(q.pruned_int8_bytes),
        bytes(q.pruned_int8_zip_bytes)
    );
    let _ = writeln!(
        s,
        "| pruned with element masks + int8: accuracy, bytes (zipped) | — | — | {}, {} ({}) |",
        pct(q.element_masks.pruned_int8_accuracy),
        bytes(q.element_masks.pruned_int8_bytes),
        bytes(q.element_masks.pruned_int8_zip_bytes)
    );
    let _ = writeln!(
        s,
        "| baseline ÷ pruned + quantized | ~10× zipped | 3.5× raw, 9.0× zipped | {:.1}× raw, {:.1}× zipped |\n",
        q.size_ratio, q.zip_size_ratio
    );
    let _ = writeln!(
        s,
        "| pruned weight | weights | zeros | sparsity |\n|---|---|---|---|"
    );
    for l in &q.layers {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2}% |",
            l.layer,
            bytes(l.weights),
            bytes(l.zeros),
            l.sparsity * 100.0
        );
    }
    for n in &q.notes {
        let _ = writeln!(s, "\n- {n}");
    }

    let _ = writeln!(s, "\n## Part 3 — knowledge distillation\n");
    let _ = writeln!(
        s,
        "Teacher: {} ({} parameters, {}, frozen: it runs in inference mode and its logits \
are computed once). Student: {} ({} parameters), {}, distilled and trained alone with the \
same seed, data order and epochs. Loss α·CE + (1−α)·T²·KL(softmax(t/T) ‖ softmax(s/T)).\n",
        d.teacher,
        bytes(d.teacher_params),
        epochs(s_.teacher_epochs),
        d.student,
        bytes(d.student_params),
        epochs(d.epochs)
    );
    let _ = writeln!(s, "| | study | TF here | ferrolite |\n|---|---|---|---|");
    let _ = writeln!(
        s,
        "| teacher accuracy | 97.81% | 97.55% (98.98% strong) | {} |",
        pct(d.teacher_accuracy)
    );
    let _ = writeln!(
        s,
        "| distilled student, α {} T {} (mean ± std over {} seeds) | 97.98% (1 run) | 96.87% frozen, α 0.1 T 10 | {} ± {:.2} pp |",
        d.alpha,
        d.temperature,
        d.seeds.len(),
        pct(d.distilled_mean),
        d.distilled_std * 100.0
    );
    let _ = writeln!(
        s,
        "| student from scratch (mean ± std) | 97.10% (1 run) | 97.47% | {} ± {:.2} pp |",
        pct(d.scratch_mean),
        d.scratch_std * 100.0
    );
    let _ = writeln!(
        s,
        "| distilled − scratch | +0.88 pp | −0.60 pp | {:+.2} pp |\n",
        (d.distilled_mean - d.scratch_mean) * 100.0
    );
    let _ = writeln!(
        s,
        "Per seed ({}): distilled {}; scratch {}.\n",
        d.seeds
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        list(&d.distilled_accuracy),
        list(&d.scratch_accuracy)
    );
    let _ = writeln!(
        s,
        "Sweep (same teacher, seeds and epochs for every row; the scratch arm is shared):\n"
    );
    let _ = writeln!(
        s,
        "| α | T | distilled per seed | mean ± std | vs scratch {} | seeds won |\n|---|---|---|---|---|---|",
        pct(d.scratch_mean)
    );
    for row in &d.sweep {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} ± {:.2} pp | {:+.2} pp | {}/{} |",
            row.alpha,
            row.temperature,
            list(&row.distilled_accuracy),
            pct(row.mean),
            row.std * 100.0,
            (row.mean - d.scratch_mean) * 100.0,
            row.wins,
            row.distilled_accuracy.len()
        );
    }
    let verdict = if d.distilled_mean >= d.scratch_mean {
        "Distillation is at or above the scratch student on the mean with the default setting."
    } else {
        "Distillation did **not** beat the scratch student on the mean with the default setting in this run."
    };
    let _ = writeln!(s, "\n{verdict}\n");

    let _ = writeln!(s, "## Charts\n");
    let _ = writeln!(
        s,
        "![accuracy against file size](charts/accuracy_vs_size.svg)\n"
    );
    let _ = writeln!(s, "![per-layer sparsity](charts/sparsity.svg)\n");
    let _ = writeln!(
        s,
        "![distilled vs scratch per seed](charts/distillation.svg)\n"
    );

    let _ = writeln!(s, "## Files\n");
    let _ = writeln!(s, "| file | bytes | zipped | accuracy |\n|---|---|---|---|");
    for a in &r.artifacts {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            a.file,
            bytes(a.bytes),
            bytes(a.zip_bytes),
            pct(a.accuracy)
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[0.97, 0.98, 0.99]);
        assert!((m - 0.98).abs() < 1e-12);
        assert!((s - 0.01).abs() < 1e-12);
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
        assert_eq!(mean_std(&[]), (0.0, 0.0));
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(bytes(84848), "84,848");
        assert_eq!(bytes(999), "999");
        assert_eq!(bytes(1_000_000), "1,000,000");
    }
}
