//! Stateful accountants: a run-length history of privacy events behind one trait.

use super::prv::{PrvOptions, prv_epsilon};
use super::rdp::{compute_rdp, default_orders, rdp_to_epsilon};
use super::{AccountantKind, AccountingError, Conversion, PrivacyEvent, check_delta};
use serde::{Deserialize, Serialize};

/// What an accountant accounts with (Opacus' `mechanism()` string).
pub type Mechanism = AccountantKind;

/// Tracks the privacy spent by a sequence of Poisson-subsampled Gaussian steps.
pub trait Accountant {
    /// Which analysis this accountant uses.
    fn mechanism(&self) -> Mechanism;
    /// Records `ev` (validated first; an invalid event is not recorded).
    /// Consecutive events with equal `(σ, q)` merge into one history entry.
    fn step(&mut self, ev: PrivacyEvent) -> Result<(), AccountingError>;
    /// ε spent so far at `delta` (0 for an empty history).
    fn epsilon(&self, delta: f64) -> Result<f64, AccountingError>;
    /// The run-length history, oldest first.
    fn history(&self) -> &[PrivacyEvent];
}

/// Appends `ev` to a run-length history, merging it into the last entry when
/// σ and q are equal (as Opacus' accountants do step by step).
pub fn merge_event(history: &mut Vec<PrivacyEvent>, ev: PrivacyEvent) {
    if let Some(last) = history.last_mut()
        && last.noise_multiplier == ev.noise_multiplier
        && last.sample_rate == ev.sample_rate
    {
        last.steps = last.steps.saturating_add(ev.steps);
        return;
    }
    history.push(ev);
}

/// ε of a history with the given analysis (stateless form of [`Accountant::epsilon`]).
///
/// RDP is computed once per history entry (per distinct consecutive `(q, σ)`)
/// and scaled by its step count, so the cost does not grow with `steps`.
pub fn epsilon_for(
    history: &[PrivacyEvent],
    delta: f64,
    kind: AccountantKind,
    conversion: Conversion,
) -> Result<f64, AccountingError> {
    check_delta(delta)?;
    for ev in history {
        ev.validate()?;
    }
    if history.is_empty() {
        return Ok(0.0);
    }
    match kind {
        AccountantKind::Rdp => Ok(rdp_epsilon(history, delta, conversion, &default_orders())),
        AccountantKind::Prv => prv_epsilon(history, delta, &PrvOptions::default()),
    }
}

fn rdp_epsilon(
    history: &[PrivacyEvent],
    delta: f64,
    conversion: Conversion,
    orders: &[f64],
) -> f64 {
    let mut total = vec![0.0; orders.len()];
    for ev in history {
        let r = compute_rdp(ev.sample_rate, ev.noise_multiplier, ev.steps, orders);
        for (t, v) in total.iter_mut().zip(r) {
            *t += v;
        }
    }
    rdp_to_epsilon(orders, &total, delta, conversion).0
}

/// Rényi-DP accountant (Mironov, Talwar, Zhang 2019) over Opacus' default orders.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RdpAccountant {
    /// RDP→(ε, δ) conversion.
    #[serde(default)]
    pub conversion: Conversion,
    history: Vec<PrivacyEvent>,
}

impl RdpAccountant {
    /// An empty accountant with the given conversion.
    pub fn new(conversion: Conversion) -> Self {
        Self {
            conversion,
            history: Vec::new(),
        }
    }

    /// ε and the optimal order at `delta`, over custom `orders` (each > 1).
    pub fn epsilon_with_orders(
        &self,
        delta: f64,
        orders: &[f64],
    ) -> Result<(f64, f64), AccountingError> {
        check_delta(delta)?;
        if let Some(bad) = orders.iter().find(|a| a.is_nan() || **a <= 1.0) {
            return Err(AccountingError::InvalidParameter(format!(
                "RDP order {bad} must be > 1"
            )));
        }
        let mut total = vec![0.0; orders.len()];
        for ev in &self.history {
            for (t, v) in total.iter_mut().zip(compute_rdp(
                ev.sample_rate,
                ev.noise_multiplier,
                ev.steps,
                orders,
            )) {
                *t += v;
            }
        }
        if self.history.is_empty() {
            return Ok((0.0, f64::NAN));
        }
        Ok(rdp_to_epsilon(orders, &total, delta, self.conversion))
    }
}

impl Accountant for RdpAccountant {
    fn mechanism(&self) -> Mechanism {
        AccountantKind::Rdp
    }
    fn step(&mut self, ev: PrivacyEvent) -> Result<(), AccountingError> {
        ev.validate()?;
        merge_event(&mut self.history, ev);
        Ok(())
    }
    fn epsilon(&self, delta: f64) -> Result<f64, AccountingError> {
        check_delta(delta)?;
        if self.history.is_empty() {
            return Ok(0.0);
        }
        Ok(rdp_epsilon(
            &self.history,
            delta,
            self.conversion,
            &default_orders(),
        ))
    }
    fn history(&self) -> &[PrivacyEvent] {
        &self.history
    }
}

/// PRV accountant (Gopi, Lee, Wutschitz 2021), as Opacus' `PRVAccountant`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PrvAccountant {
    /// Accuracy knobs (Opacus defaults: `eps_error` 0.01, `delta_error` δ/1000).
    #[serde(default)]
    pub options: PrvOptions,
    history: Vec<PrivacyEvent>,
}

impl PrvAccountant {
    /// An empty accountant with the given accuracy options.
    pub fn new(options: PrvOptions) -> Self {
        Self {
            options,
            history: Vec::new(),
        }
    }
}

impl Accountant for PrvAccountant {
    fn mechanism(&self) -> Mechanism {
        AccountantKind::Prv
    }
    fn step(&mut self, ev: PrivacyEvent) -> Result<(), AccountingError> {
        ev.validate()?;
        merge_event(&mut self.history, ev);
        Ok(())
    }
    fn epsilon(&self, delta: f64) -> Result<f64, AccountingError> {
        check_delta(delta)?;
        if self.history.is_empty() {
            return Ok(0.0);
        }
        prv_epsilon(&self.history, delta, &self.options)
    }
    fn history(&self) -> &[PrivacyEvent] {
        &self.history
    }
}

/// Either accountant, serialisable with a `"kind"` tag for checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum AnyAccountant {
    /// See [`RdpAccountant`].
    Rdp(RdpAccountant),
    /// See [`PrvAccountant`].
    Prv(PrvAccountant),
}

impl AnyAccountant {
    /// An empty accountant of `kind` (`conversion` only matters for RDP).
    pub fn new(kind: AccountantKind, conversion: Conversion) -> Self {
        match kind {
            AccountantKind::Rdp => Self::Rdp(RdpAccountant::new(conversion)),
            AccountantKind::Prv => Self::Prv(PrvAccountant::default()),
        }
    }

    fn inner(&self) -> &dyn Accountant {
        match self {
            Self::Rdp(a) => a,
            Self::Prv(a) => a,
        }
    }
}

impl Accountant for AnyAccountant {
    fn mechanism(&self) -> Mechanism {
        self.inner().mechanism()
    }
    fn step(&mut self, ev: PrivacyEvent) -> Result<(), AccountingError> {
        match self {
            Self::Rdp(a) => a.step(ev),
            Self::Prv(a) => a.step(ev),
        }
    }
    fn epsilon(&self, delta: f64) -> Result<f64, AccountingError> {
        self.inner().epsilon(delta)
    }
    fn history(&self) -> &[PrivacyEvent] {
        self.inner().history()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: f64, q: f64, n: u64) -> PrivacyEvent {
        PrivacyEvent {
            noise_multiplier: s,
            sample_rate: q,
            steps: n,
        }
    }

    #[test]
    fn equal_consecutive_events_merge() {
        let mut a = RdpAccountant::default();
        for _ in 0..3 {
            a.step(ev(1.0, 0.01, 1)).unwrap();
        }
        a.step(ev(2.0, 0.01, 5)).unwrap();
        a.step(ev(1.0, 0.01, 1)).unwrap();
        assert_eq!(
            a.history(),
            &[ev(1.0, 0.01, 3), ev(2.0, 0.01, 5), ev(1.0, 0.01, 1)]
        );
    }

    #[test]
    fn invalid_event_is_refused_and_not_recorded() {
        let mut a = AnyAccountant::new(AccountantKind::Prv, Conversion::Balle);
        assert_eq!(
            a.step(ev(0.0, 0.01, 1)),
            Err(AccountingError::InvalidNoiseMultiplier(0.0))
        );
        assert_eq!(
            a.step(ev(1.0, 1.5, 1)),
            Err(AccountingError::InvalidSampleRate(1.5))
        );
        assert_eq!(a.step(ev(1.0, 0.5, 0)), Err(AccountingError::ZeroSteps));
        assert!(a.history().is_empty());
        assert_eq!(a.epsilon(1e-5), Ok(0.0));
    }

    #[test]
    fn merged_history_gives_same_epsilon_as_split() {
        let mut split = RdpAccountant::default();
        for _ in 0..100 {
            split.step(ev(1.1, 0.004, 10)).unwrap();
        }
        let mut one = RdpAccountant::default();
        one.step(ev(1.1, 0.004, 1000)).unwrap();
        assert_eq!(split.history(), one.history());
        assert_eq!(split.epsilon(1e-5).unwrap(), one.epsilon(1e-5).unwrap());
    }

    #[test]
    fn state_survives_a_json_round_trip() {
        let mut a = AnyAccountant::new(AccountantKind::Rdp, Conversion::Classic);
        a.step(ev(1.1, 0.004, 250)).unwrap();
        a.step(ev(0.9, 0.004, 250)).unwrap();
        let json = serde_json::to_string(&a).unwrap();
        let b: AnyAccountant = serde_json::from_str(&json).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.epsilon(1e-5).unwrap(), b.epsilon(1e-5).unwrap());
    }
}
