//! The codec a run uses, as written on the command line and in configs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CodecError;

/// How the values kept by top-k are themselves encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ValueCodec {
    /// Raw little-endian `f32`.
    #[default]
    None,
    /// IEEE half precision.
    Fp16,
    /// 8-bit codes with one scale per tensor, stochastic rounding.
    Int8,
}

/// A wire codec for model updates, chosen per run.
///
/// Written as `none`, `fp16`, `int8`, `topk:<fraction>` (kept values as
/// `f32`), `topk:<fraction>+fp16` or `topk:<fraction>+int8`. Serde uses the
/// same string.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum CodecSpec {
    /// Raw little-endian `f32`: exact, 4 bytes per value.
    #[default]
    None,
    /// IEEE half precision (round to nearest): 2 bytes per value.
    Fp16,
    /// Per-tensor scale and stochastically rounded 8-bit codes: 1 byte per value.
    Int8,
    /// Sparsification: keep the `ceil(fraction · n)` largest-magnitude
    /// coordinates (and their indices), zero the rest.
    TopK {
        /// Fraction of coordinates kept, in (0, 1].
        fraction: f32,
        /// Encoding of the kept values.
        values: ValueCodec,
    },
}

impl CodecSpec {
    /// Checks the parameters (a top-k fraction must lie in (0, 1]).
    pub fn validate(&self) -> Result<(), CodecError> {
        if let Self::TopK { fraction, .. } = *self
            && !(fraction.is_finite() && fraction > 0.0 && fraction <= 1.0)
        {
            return Err(CodecError::Spec {
                spec: self.to_string(),
                reason: format!("top-k fraction must be in (0, 1], got {fraction}"),
            });
        }
        Ok(())
    }

    /// Number of coordinates top-k keeps out of `n`: `ceil(fraction · n)`,
    /// at least 1 and at most `n`. `n` for the dense codecs.
    pub fn kept(&self, n: usize) -> usize {
        match *self {
            Self::TopK { fraction, .. } => {
                // f64 so that e.g. 0.01 · 26 010 does not pick up f32 rounding.
                let k = (f64::from(fraction) * n as f64).ceil();
                (k as usize).clamp(1.min(n), n)
            }
            _ => n,
        }
    }
}

impl fmt::Display for ValueCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Fp16 => "fp16",
            Self::Int8 => "int8",
        })
    }
}

impl fmt::Display for CodecSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Fp16 => f.write_str("fp16"),
            Self::Int8 => f.write_str("int8"),
            Self::TopK {
                fraction,
                values: ValueCodec::None,
            } => write!(f, "topk:{fraction}"),
            Self::TopK { fraction, values } => write!(f, "topk:{fraction}+{values}"),
        }
    }
}

impl FromStr for CodecSpec {
    type Err = CodecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: String| CodecError::Spec {
            spec: s.to_string(),
            reason,
        };
        let t = s.trim().to_ascii_lowercase();
        let spec = match t.as_str() {
            "none" => Self::None,
            "fp16" => Self::Fp16,
            "int8" => Self::Int8,
            _ => {
                let Some(rest) = t.strip_prefix("topk:") else {
                    return Err(bad(
                        "expected none, fp16, int8, topk:<fraction>, topk:<fraction>+fp16 or topk:<fraction>+int8"
                            .into(),
                    ));
                };
                let (frac, values) = match rest.split_once('+') {
                    None => (rest, ValueCodec::None),
                    Some((frac, "none")) => (frac, ValueCodec::None),
                    Some((frac, "fp16")) => (frac, ValueCodec::Fp16),
                    Some((frac, "int8")) => (frac, ValueCodec::Int8),
                    Some((_, other)) => {
                        return Err(bad(format!(
                            "unknown value codec `{other}` after `+` (expected none, fp16 or int8)"
                        )));
                    }
                };
                let fraction: f32 = frac
                    .parse()
                    .map_err(|_| bad(format!("`{frac}` is not a number")))?;
                Self::TopK { fraction, values }
            }
        };
        spec.validate().map_err(|e| match e {
            CodecError::Spec { reason, .. } => bad(reason),
            other => other,
        })?;
        Ok(spec)
    }
}

impl Serialize for CodecSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CodecSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_every_form() {
        for s in [
            "none",
            "fp16",
            "int8",
            "topk:0.01",
            "topk:0.01+int8",
            "topk:0.5+fp16",
            "topk:1",
        ] {
            let spec: CodecSpec = s.parse().unwrap();
            assert_eq!(spec.to_string(), s);
        }
        assert_eq!(
            "topk:0.25+none".parse::<CodecSpec>().unwrap(),
            CodecSpec::TopK {
                fraction: 0.25,
                values: ValueCodec::None
            }
        );
        assert_eq!(" INT8 ".parse::<CodecSpec>().unwrap(), CodecSpec::Int8);
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for s in [
            "",
            "gzip",
            "topk",
            "topk:",
            "topk:0",
            "topk:1.5",
            "topk:-0.1",
            "topk:nan",
            "topk:0.1+int4",
            "topk:abc",
        ] {
            let err = s.parse::<CodecSpec>().unwrap_err();
            assert!(matches!(err, CodecError::Spec { .. }), "{s}: {err}");
        }
        let msg = "topk:2".parse::<CodecSpec>().unwrap_err().to_string();
        assert!(msg.contains("(0, 1]"), "{msg}");
    }

    #[test]
    fn serde_uses_the_string_form() {
        let spec = CodecSpec::TopK {
            fraction: 0.01,
            values: ValueCodec::Int8,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(json, "\"topk:0.01+int8\"");
        assert_eq!(serde_json::from_str::<CodecSpec>(&json).unwrap(), spec);
        assert!(serde_json::from_str::<CodecSpec>("\"topk:0\"").is_err());
    }

    #[test]
    fn kept_is_ceil_of_fraction_times_n() {
        let k = |f: f32, n| {
            CodecSpec::TopK {
                fraction: f,
                values: ValueCodec::None,
            }
            .kept(n)
        };
        assert_eq!(k(0.01, 26_010), 261);
        assert_eq!(k(0.01, 100), 1);
        assert_eq!(k(0.001, 10), 1);
        assert_eq!(k(1.0, 7), 7);
        assert_eq!(k(0.5, 0), 0);
        assert_eq!(CodecSpec::Int8.kept(9), 9);
    }
}
