//! Optimizers with Keras' update rules. State is kept per parameter position, so the
//! same optimizer must always be stepped with the same model's parameters.

use rayon::prelude::*;

use super::{NnError, Param};

/// Updates trainable parameters from their gradients.
pub trait Optimizer {
    fn step(&mut self, params: &mut [&mut Param]) -> Result<(), NnError>;
    fn learning_rate(&self) -> f32;
    fn set_learning_rate(&mut self, lr: f32);
    /// Steps taken so far.
    fn iterations(&self) -> u64;
}

/// Elementwise updates run in fixed-size chunks: order-independent, so parallel is
/// still deterministic.
const CHUNK: usize = 1 << 15;

fn init_state(state: &mut Vec<Vec<f32>>, params: &[&mut Param]) -> Result<(), NnError> {
    if state.is_empty() {
        *state = params.iter().map(|p| vec![0.0; p.value.len()]).collect();
    }
    if state.len() != params.len()
        || state
            .iter()
            .zip(params)
            .any(|(s, p)| s.len() != p.value.len() || p.grad.len() != p.value.len())
    {
        return Err(NnError::State(
            "optimizer state does not match the parameters (a different model?)".into(),
        ));
    }
    Ok(())
}

/// Keras Adam: `m += (g-m)(1-β1)`, `v += (g²-v)(1-β2)`,
/// `p -= lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + ε)` (ε added to the
/// un-bias-corrected sqrt(v), as Keras does).
#[derive(Clone, Debug)]
pub struct Adam {
    pub learning_rate: f32,
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    iterations: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl Default for Adam {
    /// Keras defaults: lr 1e-3, β1 0.9, β2 0.999, ε 1e-7.
    fn default() -> Self {
        Adam::new(1e-3)
    }
}

impl Adam {
    pub fn new(learning_rate: f32) -> Self {
        Adam {
            learning_rate,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            iterations: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, params: &mut [&mut Param]) -> Result<(), NnError> {
        init_state(&mut self.m, params)?;
        init_state(&mut self.v, params)?;
        let t = (self.iterations + 1) as i32;
        let b1 = self.beta_1;
        let b2 = self.beta_2;
        let alpha = self.learning_rate * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
        let eps = self.epsilon;
        let update = |w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]| {
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m += (g - *m) * (1.0 - b1);
                *v += (g * g - *v) * (1.0 - b2);
                *w -= alpha * *m / (v.sqrt() + eps);
            }
        };
        for ((p, m), v) in params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            // Elementwise, so splitting changes nothing but the speed; small tensors
            // are not worth waking other threads for.
            if p.value.len() <= CHUNK {
                update(&mut p.value, &p.grad, m, v);
                continue;
            }
            p.value
                .par_chunks_mut(CHUNK)
                .zip(p.grad.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((w, g), m), v)| update(w, g, m, v));
        }
        self.iterations += 1;
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }
}

/// Keras SGD: without momentum `p -= lr·g`; with momentum `u = μu - lr·g`, then
/// `p += u` (or `p += μu - lr·g` with Nesterov).
#[derive(Clone, Debug)]
pub struct Sgd {
    pub learning_rate: f32,
    pub momentum: f32,
    pub nesterov: bool,
    iterations: u64,
    velocity: Vec<Vec<f32>>,
}

impl Sgd {
    pub fn new(learning_rate: f32, momentum: f32) -> Self {
        Sgd {
            learning_rate,
            momentum,
            nesterov: false,
            iterations: 0,
            velocity: Vec::new(),
        }
    }
}

impl Default for Sgd {
    /// Keras defaults: lr 0.01, no momentum.
    fn default() -> Self {
        Sgd::new(0.01, 0.0)
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, params: &mut [&mut Param]) -> Result<(), NnError> {
        init_state(&mut self.velocity, params)?;
        let (lr, mu, nesterov) = (self.learning_rate, self.momentum, self.nesterov);
        for (p, u) in params.iter_mut().zip(&mut self.velocity) {
            p.value
                .par_chunks_mut(CHUNK)
                .zip(p.grad.par_chunks(CHUNK))
                .zip(u.par_chunks_mut(CHUNK))
                .for_each(|((w, g), u)| {
                    for i in 0..w.len() {
                        if mu == 0.0 {
                            w[i] -= lr * g[i];
                            continue;
                        }
                        u[i] = mu * u[i] - lr * g[i];
                        w[i] += if nesterov {
                            mu * u[i] - lr * g[i]
                        } else {
                            u[i]
                        };
                    }
                });
        }
        self.iterations += 1;
        Ok(())
    }

    fn learning_rate(&self) -> f32 {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, lr: f32) {
        self.learning_rate = lr;
    }

    fn iterations(&self) -> u64 {
        self.iterations
    }
}
