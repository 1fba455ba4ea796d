//! Per-client privacy budget ledger.
//!
//! Each client (by string id) has its own run-length history of privacy events
//! and the ε it has spent under the ledger's accountant. A charge that would
//! push a client past the budget is refused and **not recorded**, so the ledger
//! never reports a spend above its target. The whole ledger is serde-serialisable
//! for checkpoints.

use super::accountant::{epsilon_for, merge_event};
use super::{
    AccountantKind, AccountingError, Conversion, PrivacyEvent, check_delta, check_epsilon,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fraction of the budget from which a client's level is [`BudgetLevel::Warning`].
pub const WARNING_FRACTION: f64 = 0.8;

/// A target `(ε, δ)` guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Largest ε a client may spend.
    pub epsilon: f64,
    /// The δ at which ε is measured.
    pub delta: f64,
}

impl Budget {
    /// A validated budget: ε finite and > 0, δ in (0, 1).
    pub fn new(epsilon: f64, delta: f64) -> Result<Self, AccountingError> {
        check_epsilon(epsilon)?;
        check_delta(delta)?;
        Ok(Self { epsilon, delta })
    }
}

/// Coarse state of a client's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetLevel {
    /// Below [`WARNING_FRACTION`] of the budget.
    Ok,
    /// At or above [`WARNING_FRACTION`], below the whole budget.
    Warning,
    /// The whole budget is spent.
    Exhausted,
}

impl BudgetLevel {
    /// Level for a spent fraction of the budget.
    pub fn from_fraction(fraction: f64) -> Self {
        if fraction >= 1.0 {
            Self::Exhausted
        } else if fraction >= WARNING_FRACTION {
            Self::Warning
        } else {
            Self::Ok
        }
    }
}

/// Where one client stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BudgetStatus {
    /// ε spent.
    pub spent: f64,
    /// `max(budget ε - spent, 0)`.
    pub remaining: f64,
    /// `spent / budget ε`.
    pub fraction: f64,
    /// Coarse level.
    pub level: BudgetLevel,
}

/// The result of an accepted charge.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spent {
    /// ε spent by the client after this charge.
    pub epsilon: f64,
    /// δ at which it is measured (the budget's).
    pub delta: f64,
    /// The client's standing after the charge.
    pub status: BudgetStatus,
}

/// Why a charge was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    /// Charging would take the client past its budget; nothing was recorded.
    #[error(
        "privacy budget exhausted for client {client:?}: epsilon would go from {spent:.4} to {would_be:.4}, budget {budget}"
    )]
    BudgetExhausted {
        /// The client.
        client: String,
        /// ε spent before the refused charge.
        spent: f64,
        /// ε the charge would have led to.
        would_be: f64,
        /// The budget's ε.
        budget: f64,
    },
    /// The event or the ledger's parameters are invalid.
    #[error(transparent)]
    Accounting(#[from] AccountingError),
}

/// One client's record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClientAccount {
    history: Vec<PrivacyEvent>,
    spent_epsilon: f64,
}

impl ClientAccount {
    /// Run-length history of accepted events.
    pub fn history(&self) -> &[PrivacyEvent] {
        &self.history
    }
    /// ε spent at the ledger's δ.
    pub fn spent_epsilon(&self) -> f64 {
        self.spent_epsilon
    }
}

/// Per-client budget ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    budget: Budget,
    kind: AccountantKind,
    conversion: Conversion,
    clients: BTreeMap<String, ClientAccount>,
}

impl Ledger {
    /// An empty ledger; every client gets `budget`, measured with `kind` (and
    /// `conversion` for RDP).
    pub fn new(
        budget: Budget,
        kind: AccountantKind,
        conversion: Conversion,
    ) -> Result<Self, AccountingError> {
        let budget = Budget::new(budget.epsilon, budget.delta)?;
        Ok(Self {
            budget,
            kind,
            conversion,
            clients: BTreeMap::new(),
        })
    }

    /// The per-client budget.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// The accountant used.
    pub fn kind(&self) -> AccountantKind {
        self.kind
    }

    /// The RDP conversion used.
    pub fn conversion(&self) -> Conversion {
        self.conversion
    }

    /// A client's record, if it was ever charged.
    pub fn account(&self, client: &str) -> Option<&ClientAccount> {
        self.clients.get(client)
    }

    /// All charged clients, sorted by id.
    pub fn clients(&self) -> impl Iterator<Item = (&str, &ClientAccount)> {
        self.clients.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// ε the client would have spent after `ev`.
    pub fn projected_epsilon(
        &self,
        client: &str,
        ev: PrivacyEvent,
    ) -> Result<f64, AccountingError> {
        ev.validate()?;
        let mut history = self
            .clients
            .get(client)
            .map(|a| a.history.clone())
            .unwrap_or_default();
        merge_event(&mut history, ev);
        epsilon_for(&history, self.budget.delta, self.kind, self.conversion)
    }

    /// Whether charging `ev` would take the client past the budget.
    pub fn would_exceed(&self, client: &str, ev: PrivacyEvent) -> Result<bool, AccountingError> {
        Ok(self.projected_epsilon(client, ev)? > self.budget.epsilon)
    }

    /// Records `ev` for `client` unless that would exceed the budget, in which
    /// case nothing changes and [`LedgerError::BudgetExhausted`] is returned.
    pub fn charge(&mut self, client: &str, ev: PrivacyEvent) -> Result<Spent, LedgerError> {
        let would_be = self.projected_epsilon(client, ev)?;
        if would_be > self.budget.epsilon {
            return Err(LedgerError::BudgetExhausted {
                client: client.to_owned(),
                spent: self.clients.get(client).map_or(0.0, |a| a.spent_epsilon),
                would_be,
                budget: self.budget.epsilon,
            });
        }
        let account = self.clients.entry(client.to_owned()).or_default();
        merge_event(&mut account.history, ev);
        account.spent_epsilon = would_be;
        Ok(Spent {
            epsilon: would_be,
            delta: self.budget.delta,
            status: self.status(client),
        })
    }

    /// Where `client` stands (an unknown client has spent nothing).
    pub fn status(&self, client: &str) -> BudgetStatus {
        let spent = self.clients.get(client).map_or(0.0, |a| a.spent_epsilon);
        let fraction = spent / self.budget.epsilon;
        BudgetStatus {
            spent,
            remaining: (self.budget.epsilon - spent).max(0.0),
            fraction,
            level: BudgetLevel::from_fraction(fraction),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(n: u64) -> PrivacyEvent {
        PrivacyEvent {
            noise_multiplier: 1.0,
            sample_rate: 0.01,
            steps: n,
        }
    }

    #[test]
    fn refuses_and_does_not_record_an_overdraft() {
        let mut l = Ledger::new(
            Budget::new(3.0, 1e-5).unwrap(),
            AccountantKind::Rdp,
            Conversion::Balle,
        )
        .unwrap();
        let first = l.charge("a", ev(100)).unwrap();
        assert!(first.epsilon > 0.0 && first.epsilon <= 3.0);
        assert_eq!(l.status("a").spent, first.epsilon);
        assert!(l.would_exceed("a", ev(100_000)).unwrap());
        let before = l.clone();
        let err = l.charge("a", ev(100_000)).unwrap_err();
        assert!(matches!(err, LedgerError::BudgetExhausted { ref client, .. } if client == "a"));
        assert_eq!(l, before);
        assert_eq!(l.status("b").level, BudgetLevel::Ok);
        assert_eq!(l.status("b").spent, 0.0);
    }

    #[test]
    fn ledger_survives_a_checkpoint_and_warns_near_the_budget() {
        let budget = Budget::new(2.0, 1e-5).unwrap();
        let mut l = Ledger::new(budget, AccountantKind::Prv, Conversion::Balle).unwrap();
        let mut last = l.status("c");
        // Charge rounds until one is refused; the level must pass through Warning.
        let mut saw_warning = false;
        while l.charge("c", ev(50)).is_ok() {
            let now = l.status("c");
            assert!(now.spent > last.spent && now.spent <= 2.0);
            assert!((now.remaining - (2.0 - now.spent)).abs() < 1e-12);
            saw_warning |= now.level == BudgetLevel::Warning;
            last = now;
        }
        assert!(saw_warning, "final status {last:?}");
        let json = serde_json::to_string(&l).unwrap();
        let back: Ledger = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.status("c"), l.status("c"));
        assert_eq!(back.account("c").unwrap().history().len(), 1);
    }

    #[test]
    fn levels_follow_the_fraction() {
        assert_eq!(BudgetLevel::from_fraction(0.5), BudgetLevel::Ok);
        assert_eq!(BudgetLevel::from_fraction(0.8), BudgetLevel::Warning);
        assert_eq!(BudgetLevel::from_fraction(1.0), BudgetLevel::Exhausted);
    }

    #[test]
    fn invalid_budget_and_event_are_errors() {
        assert!(Budget::new(-1.0, 1e-5).is_err());
        assert!(Budget::new(1.0, 0.0).is_err());
        let mut l = Ledger::new(
            Budget {
                epsilon: 1.0,
                delta: 1e-5,
            },
            AccountantKind::Rdp,
            Conversion::Balle,
        )
        .unwrap();
        let bad = PrivacyEvent {
            noise_multiplier: -1.0,
            sample_rate: 0.01,
            steps: 1,
        };
        assert!(matches!(
            l.charge("a", bad),
            Err(LedgerError::Accounting(_))
        ));
        assert!(l.account("a").is_none());
    }
}
