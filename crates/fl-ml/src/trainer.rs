//! The local trainer: global model + private shard + plan → update.
//!
//! One trainer serves the simulator and the real client (one code path). It
//! never sees the network: it gets parameters and a [`TrainTask`], returns the
//! delta to send.

use fl_core::engine::TrainTask;
use fl_kernels::{Kernels, Linear, Network, Sgd};
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::burn_net::BurnNet;
use crate::data::LocalData;
use crate::dp::{DpSgd, noise_and_normalise, poisson_batch};
use crate::error::MlError;
use crate::model::ModelSpec;

/// Which implementation computes gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Hand-written kernels (`fl-kernels`): the fast path.
    #[default]
    Native,
    /// burn 0.22 on the flex CPU backend: the reference path.
    Burn,
}

impl std::str::FromStr for Backend {
    type Err = MlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Self::Native),
            "burn" => Ok(Self::Burn),
            o => Err(MlError::Invalid(format!(
                "unknown backend `{o}` (expected native or burn)"
            ))),
        }
    }
}

/// Result of local training.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOutcome {
    /// Local model minus the global model it started from.
    pub delta: Vec<f32>,
    /// Examples held (the FedAvg weight).
    pub num_examples: u64,
    /// Optimizer steps taken.
    pub steps: u64,
    /// Mean training loss over the steps.
    pub loss: f64,
    /// Poisson sampling rate used by DP-SGD (None without DP).
    pub sample_rate: Option<f64>,
}

/// Result of evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalOutcome {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Examples evaluated.
    pub num_examples: usize,
}

enum Engine {
    /// Hand-written kernels: a CNN ([`Network`]) or the linear model ([`Linear`]).
    Native(Box<dyn Kernels>),
    Burn(Box<BurnNet>),
}

/// Trains and evaluates one model spec; reuses its buffers across rounds.
pub struct LocalTrainer {
    spec: ModelSpec,
    engine: Engine,
    grad: Vec<f32>,
    norms: Vec<f32>,
    xb: Vec<f32>,
    yb: Vec<u8>,
    idx: Vec<usize>,
}

impl std::fmt::Debug for LocalTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalTrainer")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl LocalTrainer {
    /// A trainer for `spec` on `backend`.
    pub fn new(spec: ModelSpec, backend: Backend) -> Result<Self, MlError> {
        let engine = match (spec.net(), backend) {
            (Some(net), Backend::Native) => Engine::Native(Box::new(Network::new(net)?)),
            (Some(net), Backend::Burn) => Engine::Burn(Box::new(BurnNet::flex(net))),
            (None, Backend::Native) => Engine::Native(Box::new(Linear::new(
                spec.input_len(),
                crate::model::CLASSES,
            )?)),
            (None, Backend::Burn) => {
                return Err(MlError::Invalid(format!(
                    "the burn backend runs the CNNs only; use the native backend for {spec}"
                )));
            }
        };
        Ok(Self {
            spec,
            engine,
            grad: vec![0.0; spec.num_params()],
            norms: Vec::new(),
            xb: Vec::new(),
            yb: Vec::new(),
            idx: Vec::new(),
        })
    }

    /// The model spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn check(&self, params: &[f32], data: &LocalData) -> Result<(), MlError> {
        if params.len() != self.spec.num_params() {
            return Err(MlError::Invalid(format!(
                "model has {} parameters, got {}",
                self.spec.num_params(),
                params.len()
            )));
        }
        if data.image_len != self.spec.input_len() {
            return Err(MlError::Invalid(format!(
                "examples have {} values, {} expects {}{}",
                data.image_len,
                self.spec,
                self.spec.input_len(),
                if self.spec.net().is_none() {
                    " (features: pass the data through ModelSpec::prepare first)"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// Trains from `global` on `data` as `task` says. With `dp`, runs DP-SGD
    /// with noise from `noise` (a CSPRNG in production).
    pub fn train(
        &mut self,
        global: &[f32],
        data: &LocalData,
        task: &TrainTask,
        dp: Option<&DpSgd>,
        noise: &mut dyn RngCore,
    ) -> Result<TrainOutcome, MlError> {
        self.check(global, data)?;
        if data.is_empty() {
            return Err(MlError::Invalid("no local training data".into()));
        }
        if let Some(d) = dp {
            d.validate()?;
        }
        let plan = &task.plan;
        if plan.batch_size == 0 || !(plan.learning_rate.is_finite() && plan.learning_rate > 0.0) {
            return Err(MlError::Invalid(
                "batch size and learning rate must be positive".into(),
            ));
        }
        let n = data.len();
        let mut params = global.to_vec();
        let mut opt = Sgd::new(plan.learning_rate as f32, plan.momentum as f32, 0.0)
            .with_nesterov(plan.nesterov);
        let mut rng = ChaCha8Rng::seed_from_u64(task.seed);
        let total_steps = plan.steps(n as u64);
        let mu = plan.proximal_mu as f32;
        let mut loss_sum = 0.0f64;
        let mut steps = 0u64;
        let mut order: Vec<usize> = (0..n).collect();
        let q = DpSgd::sample_rate(plan.batch_size, n);
        'outer: for _epoch in 0..plan.local_epochs {
            order.shuffle(&mut rng);
            let batches_per_epoch = n.div_ceil(plan.batch_size as usize);
            for bi in 0..batches_per_epoch {
                if steps >= total_steps {
                    break 'outer;
                }
                let loss = match dp {
                    None => {
                        let lo = bi * plan.batch_size as usize;
                        let hi = (lo + plan.batch_size as usize).min(n);
                        self.idx.clear();
                        self.idx.extend_from_slice(&order[lo..hi]);
                        self.step_plain(&params, data)?
                    }
                    Some(d) => {
                        poisson_batch(n, q, &mut rng, &mut self.idx);
                        let l = self.step_clipped(&params, data, d.max_grad_norm as f32)?;
                        let std = d.noise_multiplier * d.max_grad_norm;
                        noise_and_normalise(&mut self.grad, std, q * n as f64, noise)?;
                        l
                    }
                };
                if mu > 0.0 {
                    // FedProx: gradient of μ/2·‖w − w_global‖².
                    for ((g, w), w0) in self.grad.iter_mut().zip(&params).zip(global) {
                        *g += mu * (w - w0);
                    }
                }
                opt.step(&mut params, &self.grad)?;
                loss_sum += f64::from(loss);
                steps += 1;
            }
        }
        let delta = params.iter().zip(global).map(|(p, g)| p - g).collect();
        Ok(TrainOutcome {
            delta,
            num_examples: n as u64,
            steps,
            loss: if steps > 0 {
                loss_sum / steps as f64
            } else {
                f64::NAN
            },
            sample_rate: dp.map(|_| q),
        })
    }

    /// Mean-loss gradient of the batch in `self.idx` into `self.grad`.
    fn step_plain(&mut self, params: &[f32], data: &LocalData) -> Result<f32, MlError> {
        data.gather(&self.idx, &mut self.xb, &mut self.yb);
        match &mut self.engine {
            Engine::Native(net) => {
                Ok(net.loss_and_grad(params, &self.xb, &self.yb, &mut self.grad)?)
            }
            Engine::Burn(net) => net.loss_and_grad(params, &self.xb, &self.yb, &mut self.grad),
        }
    }

    /// Sum of per-example clipped gradients of the batch in `self.idx` into `self.grad`.
    fn step_clipped(&mut self, params: &[f32], data: &LocalData, c: f32) -> Result<f32, MlError> {
        data.gather(&self.idx, &mut self.xb, &mut self.yb);
        let b = self.yb.len();
        self.norms.resize(b, 0.0);
        match &mut self.engine {
            Engine::Native(net) => Ok(net.clipped_grad_sum(
                params,
                &self.xb,
                &self.yb,
                c,
                &mut self.grad,
                &mut self.norms,
            )?),
            Engine::Burn(net) => {
                // Reference path: one backward per example (the microbatch oracle).
                self.grad.fill(0.0);
                let mut g = vec![0.0f32; params.len()];
                let il = data.image_len;
                let mut loss = 0.0;
                for i in 0..b {
                    loss += net.loss_and_grad(
                        params,
                        &self.xb[i * il..(i + 1) * il],
                        &self.yb[i..=i],
                        &mut g,
                    )?;
                    let norm = g.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>().sqrt() as f32;
                    let f = (c / (norm + 1e-6)).min(1.0);
                    self.norms[i] = norm;
                    for (s, v) in self.grad.iter_mut().zip(&g) {
                        *s += f * v;
                    }
                }
                Ok(if b > 0 { loss / b as f32 } else { 0.0 })
            }
        }
    }

    /// Loss and accuracy of `params` on `data`.
    pub fn evaluate(&mut self, params: &[f32], data: &LocalData) -> Result<EvalOutcome, MlError> {
        self.check(params, data)?;
        let (loss, correct) = match &mut self.engine {
            Engine::Native(net) => net.evaluate(params, &data.x, &data.y)?,
            Engine::Burn(net) => {
                let il = data.image_len;
                let (mut l, mut c) = (0.0, 0);
                for (xs, ys) in data.x.chunks(1000 * il).zip(data.y.chunks(1000)) {
                    let (a, b) = net.evaluate(params, xs, ys)?;
                    l += a;
                    c += b;
                }
                (l, c)
            }
        };
        let n = data.len().max(1) as f64;
        Ok(EvalOutcome {
            loss: loss / n,
            accuracy: correct as f64 / n,
            num_examples: data.len(),
        })
    }
}
