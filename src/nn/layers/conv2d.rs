//! Keras `Conv2D`: im2col + GEMM, or the direct kernels of `direct_conv` for inputs
//! with few channels.

use super::{
    add_bias, column_sums, kernel_and_bias, layer_err, no_cache, positive_pair, weight, Activation,
    Conv2DConfig, Layer, Mode, Param,
};
use crate::nn::conv::{self, direct_conv, Geom};
use crate::nn::gemm::{par_gemm, Mat};
use crate::nn::rng::Rng;
use crate::nn::NnError;

/// How a Conv2D stores its im2col matrix ([rows, taps] or transposed).
#[derive(Clone, Copy)]
enum ColLayout {
    Rows,
    Transposed,
}

impl ColLayout {
    /// A single-channel input gets the im2col matrix stored transposed ([taps, rows]):
    /// each tap then copies whole image rows instead of scattering one value per
    /// im2col row. A pointwise convolution needs no im2col: the input is the matrix.
    fn of(g: &Geom) -> Self {
        if !g.is_pointwise() && g.c == 1 {
            ColLayout::Transposed
        } else {
            ColLayout::Rows
        }
    }

    fn mat(self, col: &[f32], rows: usize, width: usize) -> Mat<'_> {
        match self {
            ColLayout::Rows => Mat::rows(col, width),
            ColLayout::Transposed => Mat::transposed(col, rows),
        }
    }
}

/// What a training-mode forward keeps for backward.
#[derive(Clone, Debug, Default)]
struct Conv2DCache {
    /// The input for the direct kernels, else the im2col matrix in the layout of
    /// [`ColLayout::of`].
    x: Vec<f32>,
    /// The output after the activation; empty for a linear one.
    y: Vec<f32>,
}

#[derive(Clone, Debug)]
pub(super) struct Conv2D {
    geom: Geom,
    filters: usize,
    activation: Activation,
    use_bias: bool,
    /// `kernel` [kh, kw, in, filters], then `bias` [filters] when `use_bias`.
    params: Vec<Param>,
    cache: Option<Conv2DCache>,
}

impl Conv2D {
    /// The layer and its per-sample output shape.
    pub(super) fn new(
        name: &str,
        c: &Conv2DConfig,
        input_shape: &[usize],
        rng: &mut Rng,
    ) -> Result<(Self, Vec<usize>), NnError> {
        positive_pair(name, "kernel_size", c.kernel_size)?;
        if c.filters == 0 {
            return Err(layer_err(name, "filters must be positive"));
        }
        let g = Geom::new(
            name,
            input_shape,
            c.kernel_size,
            c.strides,
            c.dilation_rate,
            c.padding,
        )?;
        let kernel_shape = vec![c.kernel_size[0], c.kernel_size[1], g.c, c.filters];
        let params = kernel_and_bias("kernel", kernel_shape, c.filters, c.use_bias, rng);
        let layer = Conv2D {
            geom: g,
            filters: c.filters,
            activation: c.activation,
            use_bias: c.use_bias,
            params,
            cache: None,
        };
        Ok((layer, vec![g.oh, g.ow, c.filters]))
    }

    fn forward_direct(&mut self, x: Vec<f32>, batch: usize, train: bool) -> Vec<f32> {
        let g = self.geom;
        let n = batch * g.oh * g.ow * self.filters;
        let mut y = vec![0.0f32; n];
        let mut y_copy = self.cache.take().map(|c| c.y).unwrap_or_default();
        let bias = if self.use_bias {
            weight(&self.params, 1)
        } else {
            &[]
        };
        let fused = direct_conv::fuses(self.activation);
        // The activation's output is kept for backward; when the kernel applies the
        // activation it also writes that copy, into last step's buffer.
        let keep_y = train && self.activation != Activation::Linear;
        y_copy.resize(if keep_y && fused { n } else { 0 }, 0.0);
        direct_conv::forward(
            &g,
            batch,
            self.filters,
            &x,
            weight(&self.params, 0),
            bias,
            self.activation,
            &mut y,
            (keep_y && fused).then_some(y_copy.as_mut_slice()),
        );
        if !fused {
            self.activation.apply(&mut y, self.filters);
            if keep_y {
                y_copy.clear();
                y_copy.extend_from_slice(&y);
            }
        }
        self.cache = train.then_some(Conv2DCache { x, y: y_copy });
        y
    }

    /// The input gradient from the pre-activation output gradient `dz`:
    /// `dz·kernelᵀ` back through im2col.
    fn input_gradient(&self, dz: &[f32], batch: usize) -> Vec<f32> {
        let g = self.geom;
        let rows = batch * g.oh * g.ow;
        let k = g.col_width();
        let mut dcol = vec![0.0f32; rows * k];
        par_gemm(
            rows,
            self.filters,
            k,
            Mat::rows(dz, self.filters),
            Mat::transposed(weight(&self.params, 0), self.filters),
            &mut dcol,
        );
        if g.is_pointwise() {
            dcol
        } else {
            conv::col2im_batch(&g, &dcol, batch)
        }
    }
}

impl Layer for Conv2D {
    fn forward(&mut self, x: Vec<f32>, batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let g = self.geom;
        if direct_conv::applies(&g) {
            return Ok(self.forward_direct(x, batch, mode.training));
        }
        let rows = batch * g.oh * g.ow;
        let layout = ColLayout::of(&g);
        let col = match layout {
            ColLayout::Rows if g.is_pointwise() => x,
            ColLayout::Rows => conv::im2col_batch(&g, &x, batch),
            ColLayout::Transposed => conv::im2col_t_batch(&g, &x, batch),
        };
        let mut y = vec![0.0f32; rows * self.filters];
        par_gemm(
            rows,
            g.col_width(),
            self.filters,
            layout.mat(&col, rows, g.col_width()),
            Mat::rows(weight(&self.params, 0), self.filters),
            &mut y,
        );
        if self.use_bias {
            add_bias(&mut y, weight(&self.params, 1));
        }
        self.activation.apply(&mut y, self.filters);
        self.cache = mode.training.then(|| Conv2DCache {
            y: if self.activation != Activation::Linear {
                y.clone()
            } else {
                Vec::new()
            },
            x: col,
        });
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let g = self.geom;
        let f = self.filters;
        let cache = self.cache.as_ref().ok_or_else(|| no_cache("Conv2D"))?;
        let rows = batch * g.oh * g.ow;
        let mut dz = dy;
        let (kp, rest) = self.params.split_at_mut(1);
        let kp = &mut kp[0];
        if direct_conv::applies(&g) {
            direct_conv::weight_gradient(
                &g,
                batch,
                f,
                &cache.x,
                self.activation,
                &cache.y,
                &mut dz,
                &mut kp.grad,
                rest.first_mut().map(|b| b.grad.as_mut_slice()),
            );
        } else {
            self.activation.backward(&cache.y, &mut dz, f);
            if let Some(bias) = rest.first_mut() {
                column_sums(&dz, f, &mut bias.grad);
            }
            let k = g.col_width();
            let col_t = match ColLayout::of(&g) {
                ColLayout::Rows => Mat::transposed(&cache.x, k),
                ColLayout::Transposed => Mat::rows(&cache.x, rows),
            };
            par_gemm(k, rows, f, col_t, Mat::rows(&dz, f), &mut kp.grad);
        }
        Ok(need_dx.then(|| self.input_gradient(&dz, batch)))
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
