//! Configuration parsing: every `FromStr` spec a config file or command line accepts, the
//! YAML deserialiser on spec fields, and (with `--features sim` / `coordinator`) the whole
//! `SimConfig` / `CoordinatorConfig` through `serde_saphyr::from_str` and `validate()`.
//!
//! Anything that parses must print back (`Display`) to a string that parses to the same value.
#![no_main]

use std::fmt::{Debug, Display};
use std::str::FromStr;

use fl_core::codec::CodecSpec;
use fl_core::privacy::{AccountantKind, Conversion};
use fl_core::robust::{Attack, AttackSpec, ServerOptimizer};
use fl_core::strategies::StrategySpec;
use fl_data::{DatasetName, Partition};
use libfuzzer_sys::fuzz_target;

/// Parses `s`; on success, `Display` must round-trip.
fn check<T>(s: &str) -> Option<T>
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Display,
{
    match s.parse::<T>() {
        Ok(v) => {
            let printed = v.to_string();
            match printed.parse::<T>() {
                Ok(again) => assert_eq!(again, v, "{s:?} printed as {printed:?}"),
                Err(e) => panic!("{s:?} parsed, but its printed form {printed:?} does not: {e}"),
            }
            Some(v)
        }
        Err(e) => {
            let _ = e.to_string();
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check::<StrategySpec>(s);
    if let Some(c) = check::<CodecSpec>(s) {
        // What parses is valid, and `kept` stays within 1..=n.
        assert!(c.validate().is_ok(), "{s:?} parsed to an invalid {c:?}");
        for n in [1usize, 7, 1000] {
            assert!((1..=n).contains(&c.kept(n)));
        }
    }
    let _ = check::<Attack>(s);
    let _ = check::<AttackSpec>(s);
    let _ = s.parse::<ServerOptimizer>().map_err(|e| e.to_string());
    let _ = check::<AccountantKind>(s);
    let _ = check::<Conversion>(s);
    let _ = check::<DatasetName>(s);
    if let Some(p) = check::<Partition>(s) {
        // Partition small label sets: must not panic (errors, e.g. too few shards, are fine).
        let labels: Vec<u8> = data.iter().map(|b| b % 10).cycle().take(200).collect();
        let clients = usize::from(data.first().copied().unwrap_or(1) % 16) + 1;
        if let Ok(parts) = fl_data::partition(&labels, clients, &p, 7) {
            assert_eq!(parts.len(), clients);
            assert!(parts.iter().flatten().all(|&i| i < labels.len()));
        }
    }
    // The YAML deserialiser on a spec field.
    let _ = serde_saphyr::from_str::<CodecSpec>(s);
    let _ = serde_saphyr::from_str::<ServerOptimizer>(s);
    #[cfg(feature = "sim")]
    if let Ok(cfg) = serde_saphyr::from_str::<fl_sim::SimConfig>(s) {
        let _ = cfg.validate();
    }
    #[cfg(feature = "coordinator")]
    if let Ok(cfg) = fl_coordinator::CoordinatorConfig::from_yaml(s) {
        let _ = cfg.validate();
    }
});
