//! The private fields of a Go `resource.Quantity` as upstream's controller manager holds it,
//! for the pod-template-hash (spew prints unexported fields too).
//!
//! A Quantity reaches the controller as a string: the apiserver writes `q.String()` (the text
//! it was given when `ParseQuantity` kept it, else the canonical form) and the controller
//! runs `ParseQuantity` on that. `ParseQuantity` (k8s.io/apimachinery v0.33
//! `pkg/api/resource/quantity.go`) fills either `i` (an `int64Amount{value, scale}`, the fast
//! path) or `d` (an `*inf.Dec` rounded up to nano units), caches the input in `s` when it is
//! already in canonical form, and records the `Format`. This module repeats its decisions.

use std::fmt::Write as _;

use tinykube_apimachinery::Quantity;

/// Upstream `maxInt64Factors`.
const MAX_INT64_FACTORS: i64 = 18;
/// Upstream `Nano`, the smallest scale of the fast path.
const NANO_SCALE: i64 = -9;

/// A quantity string that upstream's `ParseQuantity` rejects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quantity {input:?} is invalid: {reason}")]
pub struct QuantityError {
    input: String,
    reason: &'static str,
}

/// The fields of a Go `resource.Quantity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoQuantity {
    /// `i.value`, `i.scale`.
    int_value: i64,
    int_scale: i32,
    /// `d.Dec` when set: `unscaled` as little-endian 64-bit words of the magnitude, its sign
    /// and `scale`.
    dec: Option<GoDec>,
    /// `s`, the cached string.
    cached: String,
    format: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct GoDec {
    negative: bool,
    words: Vec<u64>,
    scale: i32,
}

impl GoQuantity {
    /// The Quantity upstream's controller holds for a value a client sent as `text`.
    pub fn from_api_string(text: &str) -> Result<GoQuantity, QuantityError> {
        let parsed = Quantity::parse(text).map_err(|_| QuantityError {
            input: text.to_string(),
            reason: "not a quantity",
        })?;
        GoQuantity::from_wire(&parsed.to_string())
    }

    /// Upstream `ParseQuantity(wire)`.
    pub fn from_wire(wire: &str) -> Result<GoQuantity, QuantityError> {
        let error = |reason| QuantityError {
            input: wire.to_string(),
            reason,
        };
        let zero = GoQuantity {
            int_value: 0,
            int_scale: 0,
            dec: None,
            cached: String::new(),
            format: "DecimalSI",
        };
        if wire.is_empty() {
            return Err(error("empty"));
        }
        if wire == "0" {
            return Ok(GoQuantity {
                cached: wire.to_string(),
                ..zero
            });
        }
        let parts = split_quantity(wire).ok_or_else(|| error("wrong format"))?;
        let (exponent, format) =
            interpret_suffix(parts.suffix).ok_or_else(|| error("unknown suffix"))?;
        let mut scale: i64 = 0;
        let mut mantissa: i64 = 1;
        let precision = match format {
            "BinarySI" if exponent >= 0 && parts.denom.is_empty() => {
                mantissa = 1i64.checked_shl(exponent as u32).unwrap_or(0);
                // Upstream computes this in float32: int32(float32(exponent)*3/10).
                15 - parts.num.len() as i64 - ((exponent as f32) * 3.0 / 10.0) as i64 - 1
            }
            "BinarySI" => -1,
            _ => {
                scale = exponent;
                MAX_INT64_FACTORS - (parts.num.len() + parts.denom.len()) as i64
            }
        };
        if precision >= 0 {
            scale -= parts.denom.len() as i64;
            if scale >= NANO_SCALE {
                let shifted = format!("{}{}", parts.num, parts.denom);
                let value: i64 = shifted.parse().map_err(|_| error("numeric part"))?;
                if let Some(mut result) = int64_multiply(value, mantissa) {
                    if !parts.positive {
                        result = -result;
                    }
                    let canonical = if format == "BinarySI" {
                        exponent % 10 == 0 && value & 0x07 != 0
                    } else {
                        scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0')
                    };
                    return Ok(GoQuantity {
                        int_value: result,
                        int_scale: scale as i32,
                        dec: None,
                        cached: if canonical {
                            wire.to_string()
                        } else {
                            String::new()
                        },
                        format,
                    });
                }
            }
        }
        // The slow path: an inf.Dec holding the value rounded up (away from zero) to nano
        // units, scale 9 — unless BinarySI caps it at 2^63-1 (scale 0) — and BinarySI below
        // one becomes DecimalSI.
        let nanos = Quantity::parse(wire)
            .map_err(|_| error("numeric part"))?
            .nanos();
        let magnitude = nanos.unsigned_abs();
        const NANO: u128 = 1_000_000_000;
        // Our parser caps BinarySI at the same bound, so reaching it means exceeding it.
        let (magnitude, dec_scale) =
            if format == "BinarySI" && magnitude >= (i64::MAX as u128) * NANO {
                (i64::MAX as u128, 0)
            } else {
                (magnitude, 9)
            };
        let format = if format == "BinarySI" && magnitude != 0 && dec_scale == 9 && magnitude < NANO
        {
            "DecimalSI"
        } else {
            format
        };
        let mut words = vec![magnitude as u64, (magnitude >> 64) as u64];
        while words.last() == Some(&0) {
            words.pop();
        }
        Ok(GoQuantity {
            dec: Some(GoDec {
                negative: nanos < 0,
                words,
                scale: dec_scale,
            }),
            format,
            ..zero
        })
    }

    /// spew's rendering of the struct's fields, `{i:... d:... s:... Format:...}`.
    pub fn write_go_struct(&self, out: &mut String) {
        let _ = write!(
            out,
            "{{i:(resource.int64Amount){{value:(int64){} scale:(resource.Scale){}}} \
             d:(resource.infDecAmount){{Dec:(*inf.Dec)",
            self.int_value, self.int_scale
        );
        match &self.dec {
            None => out.push_str("<nil>"),
            Some(dec) => {
                let _ = write!(
                    out,
                    "{{unscaled:(big.Int){{neg:(bool){} abs:(big.nat)",
                    dec.negative
                );
                if dec.words.is_empty() {
                    out.push_str("<nil>");
                } else {
                    out.push('[');
                    for (i, word) in dec.words.iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        let _ = write!(out, "{word}");
                    }
                    out.push(']');
                }
                let _ = write!(out, "}} scale:(inf.Scale){}}}", dec.scale);
            }
        }
        let _ = write!(
            out,
            "}} s:(string){} Format:(resource.Format){}}}",
            self.cached, self.format
        );
    }
}

/// The parts upstream's `parseQuantityString` finds.
struct QuantityParts<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Upstream `parseQuantityString`: sign, leading zeros, numerator, denominator, suffix.
fn split_quantity(s: &str) -> Option<QuantityParts<'_>> {
    let bytes = s.as_bytes();
    let end = bytes.len();
    let mut pos = 0;
    let mut positive = true;
    if let Some(sign) = bytes.first() {
        match sign {
            b'-' => {
                positive = false;
                pos += 1;
            }
            b'+' => pos += 1,
            _ => {}
        }
    }
    while pos < end && bytes[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Some(QuantityParts {
            positive,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_start = pos;
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[num_start..pos];
    if pos >= end {
        return Some(QuantityParts {
            positive,
            num,
            denom: "",
            suffix: "",
        });
    }
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if bytes[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < end && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[denom_start..pos];
        if pos >= end {
            return Some(QuantityParts {
                positive,
                num,
                denom,
                suffix: "",
            });
        }
    }
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < end && matches!(bytes[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < end && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    (pos >= end).then(|| QuantityParts {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// Upstream `suffixer.interpret`: (exponent, format); the base follows from the format.
fn interpret_suffix(suffix: &str) -> Option<(i64, &'static str)> {
    let decimal = [
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("", 0),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    if let Some((_, exponent)) = decimal.iter().find(|(s, _)| *s == suffix) {
        return Some((*exponent, "DecimalSI"));
    }
    let binary = [
        ("Ki", 10),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ];
    if let Some((_, exponent)) = binary.iter().find(|(s, _)| *s == suffix) {
        return Some((*exponent, "BinarySI"));
    }
    let digits = suffix.strip_prefix(['e', 'E']).filter(|d| !d.is_empty())?;
    let exponent: i64 = digits.parse().ok()?;
    Some((i64::from(exponent as i32), "DecimalExponent"))
}

/// Upstream `int64Multiply`.
fn int64_multiply(a: i64, b: i64) -> Option<i64> {
    if a == 0 || b == 0 {
        return Some(0);
    }
    let c = a.checked_mul(b)?;
    (c / b == a).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spew(q: &GoQuantity) -> String {
        let mut out = String::new();
        q.write_go_struct(&mut out);
        out
    }

    const NIL_DEC: &str = "d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>}";

    #[test]
    fn fast_path_amounts_and_cached_strings_as_upstream() {
        // (wire string, i.value, i.scale, s, Format)
        let cases = [
            ("0", 0, 0, "0", "DecimalSI"),
            ("100m", 100, -3, "100m", "DecimalSI"),
            ("1", 1, 0, "1", "DecimalSI"),
            ("1500m", 1500, -3, "1500m", "DecimalSI"),
            ("2k", 2, 3, "2k", "DecimalSI"),
            ("1000k", 1000, 3, "", "DecimalSI"),
            ("1.5", 15, -1, "", "DecimalSI"),
            ("5n", 5, -9, "5n", "DecimalSI"),
            ("1Gi", 1 << 30, 0, "1Gi", "BinarySI"),
            ("3Ki", 3 << 10, 0, "3Ki", "BinarySI"),
            // 128 is a multiple of 8: upstream does not keep the text.
            ("128Mi", 128 << 20, 0, "", "BinarySI"),
            ("500Mi", 500 << 20, 0, "500Mi", "BinarySI"),
            ("512Mi", 512 << 20, 0, "", "BinarySI"),
            ("12e3", 12, 3, "12e3", "DecimalExponent"),
            ("1e2", 1, 2, "", "DecimalExponent"),
            ("-7", -7, 0, "-7", "DecimalSI"),
            ("+1", 1, 0, "+1", "DecimalSI"),
            ("01", 1, 0, "01", "DecimalSI"),
            ("10E", 10, 18, "10E", "DecimalSI"),
        ];
        for (wire, value, scale, cached, format) in cases {
            let q = GoQuantity::from_wire(wire).unwrap();
            let expected = format!(
                "{{i:(resource.int64Amount){{value:(int64){value} scale:(resource.Scale){scale}}} \
                 {NIL_DEC} s:(string){cached} Format:(resource.Format){format}}}"
            );
            assert_eq!(spew(&q), expected, "{wire}");
        }
    }

    #[test]
    fn slow_path_uses_an_inf_dec_in_nano_units() {
        // (wire string, big.nat words, inf.Dec scale, Format)
        let cases: [(&str, &str, i32, &str); 4] = [
            // 2^50 * 1e9 = 61035 * 2^64 + 2882303761517117440.
            ("1Pi", "[2882303761517117440 61035]", 9, "BinarySI"),
            // 19 digits leave no precision for the fast path.
            ("1234567890123456789", "", 9, "DecimalSI"),
            // 2^63 * 8 exceeds the BinarySI cap of 2^63-1.
            ("8Ei", "[9223372036854775807]", 0, "BinarySI"),
            ("512Ti", "", 9, "BinarySI"),
        ];
        for (wire, words, scale, format) in cases {
            let q = GoQuantity::from_wire(wire).unwrap();
            let dec = q.dec.clone().unwrap();
            assert_eq!(dec.scale, scale, "{wire}");
            assert_eq!(q.format, format, "{wire}");
            assert!(!dec.negative);
            let value: u128 = dec
                .words
                .iter()
                .rev()
                .fold(0u128, |acc, w| (acc << 64) | u128::from(*w));
            let expected: u128 = match wire {
                "1Pi" => (1u128 << 50) * 1_000_000_000,
                "1234567890123456789" => 1_234_567_890_123_456_789u128 * 1_000_000_000,
                "8Ei" => i64::MAX as u128,
                _ => (512u128 << 40) * 1_000_000_000,
            };
            assert_eq!(value, expected, "{wire}");
            if wire == "1Pi" || wire == "8Ei" {
                let out = spew(&q);
                let expected = format!(
                    "{{i:(resource.int64Amount){{value:(int64)0 scale:(resource.Scale)0}} \
                     d:(resource.infDecAmount){{Dec:(*inf.Dec){{unscaled:(big.Int){{neg:(bool)false \
                     abs:(big.nat){words}}} scale:(inf.Scale){scale}}}}} s:(string) \
                     Format:(resource.Format){format}}}"
                );
                assert_eq!(out, expected, "{wire}");
            }
        }
    }

    #[test]
    fn api_strings_travel_as_upstream_writes_them() {
        // (client's string, what the controller parses)
        let cases = [
            ("0.1", "100m"),
            ("100m", "100m"),
            ("1024Mi", "1Gi"),
            ("0.5Gi", "512Mi"),
            ("1000m", "1"),
            ("+1", "+1"),
        ];
        for (sent, wire) in cases {
            assert_eq!(
                GoQuantity::from_api_string(sent).unwrap(),
                GoQuantity::from_wire(wire).unwrap(),
                "{sent}"
            );
        }
        assert!(GoQuantity::from_api_string("lots").is_err());
        assert!(GoQuantity::from_wire("1Qi").is_err());
        assert!(GoQuantity::from_wire("").is_err());
    }
}
