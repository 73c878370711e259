//! The report's SVG charts, drawn with plotters: accuracy against file size for every
//! `.tflite` the run wrote, the sparsity each pruned weight reached, and the distilled
//! against the scratch student per seed.

use plotters::prelude::*;

use super::report::Report;
use super::ExperimentError;

const SIZE: (u32, u32) = (760, 460);
const FONT: &str = "sans-serif";

fn chart_err(chart: &str, e: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Stage {
        stage: format!("drawing {chart}"),
        message: e.to_string(),
    }
}

/// Every chart as (file name, SVG text).
pub fn all(report: &Report) -> Result<Vec<(&'static str, String)>, ExperimentError> {
    Ok(vec![
        ("accuracy_vs_size.svg", accuracy_vs_size(report)?),
        ("sparsity.svg", sparsity(report)?),
        ("distillation.svg", distillation(report)?),
    ])
}

/// The series labels in the lower right corner, over a light background.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    font_size: u32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FONT, font_size))
        .draw()
}

/// A y range around `values` (in %), padded, so small differences stay visible.
fn pct_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v * 100.0), hi.max(v * 100.0))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return 0.0..100.0;
    }
    let pad = ((hi - lo) * 0.25).max(0.2);
    (lo - pad).max(0.0)..(hi + pad).min(100.0)
}

fn accuracy_vs_size(r: &Report) -> Result<String, ExperimentError> {
    let name = "accuracy_vs_size.svg";
    let e = |x| chart_err(name, x);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let sizes = r
            .artifacts
            .iter()
            .flat_map(|a| [a.bytes, a.zip_bytes])
            .filter(|&b| b > 0)
            .map(|b| b as f64);
        let lo = sizes.clone().fold(f64::INFINITY, f64::min);
        let hi = sizes.fold(0.0, f64::max);
        let (lo, hi) = if lo.is_finite() && hi > 0.0 {
            (lo / 1.6, hi * 1.6)
        } else {
            (1.0, 10.0)
        };
        let y = pct_range(r.artifacts.iter().map(|a| a.accuracy));
        let mut chart = ChartBuilder::on(&root)
            .caption("MNIST accuracy against file size", (FONT, 20))
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d((lo..hi).log_scale(), y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_desc("bytes (log scale): filled = raw .tflite, hollow = zip-deflated")
            .y_desc("test accuracy (%)")
            .x_label_formatter(&|v| format!("{:.0}k", v / 1000.0))
            .draw()
            .map_err(e)?;
        for (i, a) in r.artifacts.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let acc = a.accuracy * 100.0;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (a.bytes as f64, acc),
                    5,
                    color.filled(),
                )))
                .map_err(e)?
                .label(a.file.trim_start_matches("tflite/").to_string())
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
            chart
                .draw_series(std::iter::once(Circle::new(
                    (a.zip_bytes as f64, acc),
                    5,
                    color.stroke_width(2),
                )))
                .map_err(e)?;
        }
        legend(&mut chart, 12).map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

fn sparsity(r: &Report) -> Result<String, ExperimentError> {
    let name = "sparsity.svg";
    let e = |x| chart_err(name, x);
    let layers = &r.pruning.layers;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let n = layers.len().max(1) as f64;
        let labels: Vec<String> = layers.iter().map(|l| l.layer.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Sparsity reached per pruned weight (target {:.0}%)",
                    r.settings.final_sparsity * 100.0
                ),
                (FONT, 20),
            )
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..100.0)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(layers.len().max(1))
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("zero weights (%)")
            .draw()
            .map_err(e)?;
        chart
            .draw_series(layers.iter().enumerate().map(|(i, l)| {
                let x = i as f64;
                Rectangle::new(
                    [(x - 0.3, 0.0), (x + 0.3, l.sparsity * 100.0)],
                    BLUE.mix(0.7).filled(),
                )
            }))
            .map_err(e)?;
        chart
            .draw_series(layers.iter().enumerate().map(|(i, l)| {
                Text::new(
                    format!("{:.1}%", l.sparsity * 100.0),
                    (i as f64 - 0.12, (l.sparsity * 100.0 + 4.0).min(97.0)),
                    (FONT, 14),
                )
            }))
            .map_err(e)?;
        let target = r.settings.final_sparsity as f64 * 100.0;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, target), (n - 0.5, target)],
                RED.stroke_width(1),
            ))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

fn distillation(r: &Report) -> Result<String, ExperimentError> {
    let name = "distillation.svg";
    let e = |x| chart_err(name, x);
    let d = &r.distillation;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let n = d.seeds.len().max(1) as f64;
        let y = pct_range(
            d.distilled_accuracy
                .iter()
                .chain(&d.scratch_accuracy)
                .copied(),
        );
        let seeds = d.seeds.clone();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Student accuracy per seed: distilled (α {}, T {}) vs trained alone",
                    d.alpha, d.temperature
                ),
                (FONT, 18),
            )
            .margin(14)
            .x_label_area_size(42)
            .y_label_area_size(58)
            .build_cartesian_2d(-0.5..n - 0.5, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(seeds.len().max(1))
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    seeds
                        .get(i as usize)
                        .map(|s| format!("seed {s}"))
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("test accuracy (%)")
            .draw()
            .map_err(e)?;
        let arms = [
            (
                "distilled",
                &d.distilled_accuracy,
                d.distilled_mean,
                RGBColor(0, 140, 60).to_rgba(),
                -0.12,
            ),
            (
                "scratch",
                &d.scratch_accuracy,
                d.scratch_mean,
                RED.to_rgba(),
                0.12,
            ),
        ];
        for (label, values, mean, color, shift) in arms {
            chart
                .draw_series(
                    values.iter().enumerate().map(|(i, &v)| {
                        Circle::new((i as f64 + shift, v * 100.0), 6, color.filled())
                    }),
                )
                .map_err(e)?
                .label(format!("{label} (mean {:.2}%)", mean * 100.0))
                .legend(move |(x, y)| Circle::new((x, y), 5, color.filled()));
            chart
                .draw_series(LineSeries::new(
                    [(-0.5, mean * 100.0), (n - 0.5, mean * 100.0)],
                    color.stroke_width(1),
                ))
                .map_err(e)?;
        }
        legend(&mut chart, 13).map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}
