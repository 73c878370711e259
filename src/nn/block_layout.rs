//! Channel-major Dense inputs for block pruning.
//!
//! A Dense layer after `Flatten` of an `[h, w, c]` feature map sees its inputs in
//! pixel-major order: `c` channels of one position, then the next position. TFLite's int8
//! sparse FULLY_CONNECTED stores 1×16 blocks of consecutive inputs, so when `c` is not a
//! multiple of 16 a block mixes the tail of one pixel's channels with the head of the
//! next, and pruning whole blocks then removes unrelated features together. With a
//! `Permute([3, 1, 2])` before the Flatten the inputs become channel-major, and a block
//! is 16 neighbouring positions of one channel: positions that matter (or not) together,
//! as on MNIST's empty borders. Reordering the Dense kernel's rows to match keeps the
//! function the same; the `.tflite` gains one TRANSPOSE.

use super::model::LayerEntry;
use super::{LayerSpec, NnError, Sequential};

/// One Flatten → Dense pair made channel-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelMajor {
    /// The Permute layer added before the Flatten.
    pub permute: String,
    /// The Dense layer whose kernel rows were reordered.
    pub dense: String,
    /// `[h, w, c]` of the flattened feature map.
    pub feature_map: [usize; 3],
}

/// `model` with every Flatten of an `[h, w, c]` map (c > 1, h·w > 1) that feeds a Dense
/// layer (directly or through Dropout) made channel-major, and what changed (empty:
/// the model is returned unchanged). A Flatten already preceded by a Permute is left
/// alone. The new model computes the same function up to float summation order.
pub fn channel_major_blocks(
    model: &Sequential,
) -> Result<(Sequential, Vec<ChannelMajor>), NnError> {
    let layers = model.layers();
    let mut config = model.config();
    let mut taken: Vec<String> = layers.iter().map(|l| l.name().to_string()).collect();
    let mut changes = Vec::new();
    let mut entries = Vec::with_capacity(config.layers.len() + 1);
    for (i, layer) in layers.iter().enumerate() {
        let follows_permute = i > 0 && matches!(layers[i - 1].spec(), LayerSpec::Permute { .. });
        let dense = layers[i + 1..]
            .iter()
            .find(|l| !matches!(l.spec(), LayerSpec::Dropout { .. }))
            .filter(|l| matches!(l.spec(), LayerSpec::Dense(_)));
        if let (LayerSpec::Flatten {}, &[h, w, c], Some(dense), false) =
            (layer.spec(), layer.input_shape(), dense, follows_permute)
        {
            if c > 1 && h * w > 1 {
                let name = unique_name("permute", &taken);
                taken.push(name.clone());
                entries.push(LayerEntry {
                    name: name.clone(),
                    spec: LayerSpec::Permute {
                        dims: vec![3, 1, 2],
                    },
                });
                changes.push(ChannelMajor {
                    permute: name,
                    dense: dense.name().to_string(),
                    feature_map: [h, w, c],
                });
            }
        }
        entries.push(config.layers[i].clone());
    }
    if changes.is_empty() {
        return Ok((model.clone(), changes));
    }
    config.layers = entries;
    let mut out = model.rebuilt(&config)?;
    for change in &changes {
        let [h, w, c] = change.feature_map;
        let layer = out
            .layer_mut(&change.dense)
            .ok_or_else(|| NnError::State(format!("layer {} vanished", change.dense)))?;
        let kernel = layer
            .params_mut()
            .iter_mut()
            .find(|p| p.name == "kernel")
            .ok_or_else(|| NnError::State(format!("{} has no kernel", change.dense)))?;
        let units = kernel.shape.get(1).copied().unwrap_or(0);
        if kernel.shape.first() != Some(&(h * w * c)) || units == 0 {
            return Err(NnError::Shape(format!(
                "{}: kernel {:?} does not take the {h}×{w}×{c} map",
                change.dense, kernel.shape
            )));
        }
        // Keras kernels are [inputs, units]: input row (y·w + x)·c + ch moves to
        // ch·h·w + y·w + x.
        let old = kernel.value.clone();
        let mut new = vec![0.0f32; old.len()];
        for (row, values) in old.chunks_exact(units).enumerate() {
            let (pixel, ch) = (row / c, row % c);
            let to = ch * h * w + pixel;
            new[to * units..(to + 1) * units].copy_from_slice(values);
        }
        kernel.set(&new)?;
    }
    Ok((out, changes))
}

fn unique_name(base: &str, taken: &[String]) -> String {
    let mut n = 0usize;
    loop {
        let name = if n == 0 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        if !taken.contains(&name) {
            return name;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{presets, Mode, Tensor};

    #[test]
    fn permuted_model_computes_the_same_outputs() {
        let model = presets::mnist_cnn(7).unwrap();
        let (mut permuted, changes) = channel_major_blocks(&model).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].feature_map, [13, 13, 12]);
        assert_eq!(changes[0].dense, "dense");
        let names: Vec<&str> = permuted.layers().iter().map(|l| l.name()).collect();
        assert!(names.contains(&"permute"), "{names:?}");
        let mut rng = crate::nn::rng::Rng::new(3);
        let x: Vec<f32> = (0..2 * 784).map(|_| rng.uniform(0.0, 1.0)).collect();
        let mut original = model.clone();
        let a = original
            .forward(
                Tensor::new(vec![2, 28, 28], x.clone()).unwrap(),
                Mode::inference(),
            )
            .unwrap();
        let b = permuted
            .forward(Tensor::new(vec![2, 28, 28], x).unwrap(), Mode::inference())
            .unwrap();
        assert_eq!(a.shape, b.shape);
        for (p, q) in a.data.iter().zip(&b.data) {
            assert!((p - q).abs() <= 1e-5 * p.abs().max(1.0), "{p} vs {q}");
        }
        // A second call finds the Permute and changes nothing.
        let (_, again) = channel_major_blocks(&permuted).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn kernel_rows_move_to_channel_major_positions() {
        let model = presets::mnist_cnn(1).unwrap();
        let (permuted, _) = channel_major_blocks(&model).unwrap();
        let old = model.layer("dense").unwrap().param("kernel").unwrap();
        let new = permuted.layer("dense").unwrap().param("kernel").unwrap();
        // Input (y=2, x=5, ch=7) of the 13×13×12 map: pixel-major row (2·13+5)·12+7 = 379,
        // channel-major row 7·169 + 2·13 + 5 = 1214.
        assert_eq!(
            &old.value[379 * 10..380 * 10],
            &new.value[1214 * 10..1215 * 10]
        );
    }
}
