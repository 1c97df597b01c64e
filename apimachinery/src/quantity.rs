//! Resource quantities, as upstream `k8s.io/apimachinery/pkg/api/resource.Quantity`.
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E
//! <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber>
//! ```
//!
//! A [`Quantity`] is stored exactly as an `i128` count of nano-units (10⁻⁹)
//! together with the [`Format`] its suffix implied. Like upstream, parsing
//! rounds anything finer than a nano-unit *up* (away from zero: `0.1n` is
//! `1n`), caps `BinarySI` magnitudes at 2⁶³−1 units (`9Ei` → `8Ei` − 1), and a
//! non-zero `BinarySI` value below one unit becomes `DecimalSI`.
//!
//! Comparison and equality are by value (`1Gi == 1024Mi`, `1000m == 1`).
//! `Display` (and serde) produce upstream's serialization: the canonical form
//! (`1.5Gi` → `1536Mi`, `0.1` → `100m`, `1000` → `1k`), except that — exactly as
//! upstream's parser caches its input — text that was already in a canonical
//! shape is re-emitted verbatim (`1E3` stays `1E3`, `+1` stays `+1`).
//! [`Quantity::to_canonical_string`] always gives the computed canonical form.
//!
//! Deliberate differences from upstream (which stores arbitrary-precision
//! decimals): numbers with no digit at all (`Gi`, `.`, `-.`) are rejected where
//! upstream reads them as zero; decimal quantities beyond ±1.7·10²⁹ units and
//! numbers with more than 1000 significant digits are rejected; arithmetic
//! through the `+`/`-` operators saturates at the `i128` range (use
//! [`Quantity::checked_add`] to detect it); `DecimalSI` values of 1000E and
//! more print as `1000E` rather than upstream's suffix-less bug output.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;
/// Largest `BinarySI` magnitude upstream keeps after parsing: 2⁶³−1 units.
const MAX_BINARY_NANOS: u128 = (i64::MAX as u128) * (NANO as u128);
/// Significant digits accepted in the numeric part.
const MAX_DIGITS: usize = 1000;
/// Upstream's regular expression, quoted in format errors.
const SPLIT_RE: &str = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

/// Errors from parsing a quantity; each names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is not `<signedNumber><suffix>` (upstream `ErrFormatWrong`).
    #[error(
        "invalid quantity {input:?}: quantities must match the regular expression '{SPLIT_RE}'"
    )]
    Format { input: String },
    /// The suffix is not one of the known ones (upstream `ErrSuffix`).
    #[error("invalid quantity {input:?}: unable to parse quantity's suffix")]
    Suffix { input: String },
    /// The value does not fit the exact representation.
    #[error("invalid quantity {input:?}: quantity is too large")]
    TooLarge { input: String },
    /// The numeric part has more significant digits than we accept.
    #[error("invalid quantity {input:?}: more than {MAX_DIGITS} significant digits")]
    TooManyDigits { input: String },
}

/// How a quantity is written (upstream `resource.Format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// `12e6`
    DecimalExponent,
    /// `12Mi` (powers of 1024)
    BinarySI,
    /// `12M` (powers of 1000)
    #[default]
    DecimalSI,
}

impl Format {
    /// Upstream's name for the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DecimalExponent => "DecimalExponent",
            Format::BinarySI => "BinarySI",
            Format::DecimalSI => "DecimalSI",
        }
    }
}

/// An exact resource quantity. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct Quantity {
    nanos: i128,
    format: Format,
    /// The parsed text, kept when upstream would re-emit it verbatim.
    text: Option<String>,
}

impl Quantity {
    /// Zero, `DecimalSI`.
    pub fn zero() -> Quantity {
        Quantity::default()
    }

    /// `value` whole units (upstream `NewQuantity`).
    pub fn new(value: i64, format: Format) -> Quantity {
        Quantity::from_nanos(i128::from(value) * NANO, format)
    }

    /// `value` thousandths (upstream `NewMilliQuantity`).
    pub fn from_milli(value: i64, format: Format) -> Quantity {
        Quantity::from_nanos(i128::from(value) * 1_000_000, format)
    }

    /// `nanos` billionths of a unit.
    pub fn from_nanos(nanos: i128, format: Format) -> Quantity {
        Quantity {
            nanos,
            format,
            text: None,
        }
    }

    /// Parses a quantity such as `500m`, `1.5Gi`, `1e3` (upstream `ParseQuantity`).
    pub fn parse(input: &str) -> Result<Quantity, QuantityError> {
        parse(input)
    }

    /// The exact value in nano-units.
    pub fn nanos(&self) -> i128 {
        self.nanos
    }

    /// The format used when printing.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The same value printed in another format.
    pub fn with_format(&self, format: Format) -> Quantity {
        Quantity::from_nanos(self.nanos, format)
    }

    /// True for any zero quantity (`0`, `0Gi`, `-0m`).
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// The value in whole units, rounded up away from zero (`1500m` → 2,
    /// `-1500m` → −2), saturating at the `i64` range (upstream `Value`).
    pub fn value(&self) -> i64 {
        scaled_round_up(self.nanos, NANO)
    }

    /// The value in thousandths, rounded up away from zero (`1n` → 1),
    /// saturating at the `i64` range (upstream `MilliValue`). CPU requests are
    /// usually compared in milli-cores.
    pub fn milli_value(&self) -> i64 {
        scaled_round_up(self.nanos, 1_000_000)
    }

    /// An approximate floating-point value in units.
    pub fn as_f64(&self) -> f64 {
        // Precision loss is the point of this accessor.
        self.nanos as f64 / NANO as f64
    }

    /// `self + other`, or `None` if the sum leaves the `i128` nano range. The
    /// result takes `other`'s format when `self` is zero, as upstream `Add`.
    pub fn checked_add(&self, other: &Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_add(other.nanos)?;
        Some(Quantity::from_nanos(nanos, self.combined_format(other)))
    }

    /// `self - other`, or `None` on overflow (format as [`checked_add`](Self::checked_add)).
    pub fn checked_sub(&self, other: &Quantity) -> Option<Quantity> {
        let nanos = self.nanos.checked_sub(other.nanos)?;
        Some(Quantity::from_nanos(nanos, self.combined_format(other)))
    }

    fn combined_format(&self, other: &Quantity) -> Format {
        if self.is_zero() {
            other.format
        } else {
            self.format
        }
    }

    /// The canonical form, ignoring any kept input text: no fractional digits,
    /// the largest suffix that loses no precision, sign only when negative.
    pub fn to_canonical_string(&self) -> String {
        canonical(self.nanos, self.format)
    }
}

/// `nanos / per`, rounded away from zero and saturated to `i64`.
fn scaled_round_up(nanos: i128, per: i128) -> i64 {
    let mut q = nanos / per;
    if nanos % per != 0 {
        q += nanos.signum();
    }
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

fn canonical(nanos: i128, format: Format) -> String {
    if nanos == 0 {
        return "0".to_string();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    let nano = NANO as u128;
    let mut format = format;
    // Values in (-1024, 1024) and non-integers are not shown in binary form.
    if format == Format::BinarySI && (magnitude < 1024 * nano || magnitude % nano != 0) {
        format = Format::DecimalSI;
    }
    if format == Format::BinarySI {
        const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let mut units = magnitude / nano;
        let mut exp = 0;
        while exp < SUFFIXES.len() - 1 && units % 1024 == 0 {
            units /= 1024;
            exp += 1;
        }
        return format!("{sign}{units}{}", SUFFIXES[exp]);
    }
    // Strip factors of ten, then step the exponent down to a multiple of three.
    // The mantissa never grows past the magnitude, so nothing overflows.
    let mut mantissa = magnitude;
    let mut exp: i32 = -9;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    while exp % 3 != 0 {
        mantissa *= 10;
        exp -= 1;
    }
    let suffix = if format == Format::DecimalSI {
        if exp > 18 {
            mantissa *= 10u128.pow((exp - 18).unsigned_abs());
            exp = 18;
        }
        match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        }
        .to_string()
    } else if exp == 0 {
        String::new()
    } else {
        format!("e{exp}")
    };
    format!("{sign}{mantissa}{suffix}")
}

/// The base-2 or base-10 exponent and format a suffix stands for.
fn interpret_suffix(suffix: &str) -> Option<(u32, i64, Format)> {
    let decimal = |exp| Some((10, exp, Format::DecimalSI));
    let binary = |exp| Some((2, exp, Format::BinarySI));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ => {
            let rest = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let exp = rest.parse::<i64>().ok()?;
            Some((10, exp, Format::DecimalExponent))
        }
    }
}

fn parse(input: &str) -> Result<Quantity, QuantityError> {
    let format_error = || QuantityError::Format {
        input: input.to_string(),
    };
    if input.is_empty() {
        return Err(format_error());
    }
    if input == "0" {
        return Ok(Quantity {
            nanos: 0,
            format: Format::DecimalSI,
            text: Some(input.to_string()),
        });
    }

    // Scan `[+-] zeros num [. denom] suffix-letters [+-] digits` over bytes;
    // every boundary is at an ASCII byte, so the slices are valid `str`s.
    let bytes = input.as_bytes();
    let mut pos = 0;
    let negative = bytes[0] == b'-';
    if matches!(bytes[0], b'-' | b'+') {
        pos = 1;
    }
    let digits_start = pos;
    while pos < bytes.len() && bytes[pos] == b'0' {
        pos += 1;
    }
    let num_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = &input[num_start..pos];
    let mut any_digit = pos > digits_start;
    let mut denom = "";
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let denom_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &input[denom_start..pos];
        any_digit |= !denom.is_empty();
    }
    let suffix_start = pos;
    while pos < bytes.len() && b"eEinumkKMGTP".contains(&bytes[pos]) {
        pos += 1;
    }
    if pos < bytes.len() && matches!(bytes[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != bytes.len() || !any_digit {
        return Err(format_error());
    }
    let (base, exponent, mut format) =
        interpret_suffix(&input[suffix_start..]).ok_or_else(|| QuantityError::Suffix {
            input: input.to_string(),
        })?;
    // Upstream's numerator is "0" when only zeros (or nothing) precede the point.
    let num = if num.is_empty() { "0" } else { num };
    let text = upstream_keeps_text(num, denom, base, exponent).then(|| input.to_string());

    // Exact magnitude in nano-units: digits × 2^bin × 10^shift, rounded up.
    let digits = format!("{num}{denom}");
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        return Ok(Quantity {
            nanos: 0,
            format,
            text,
        });
    }
    if trimmed.len() > MAX_DIGITS {
        return Err(QuantityError::TooManyDigits {
            input: input.to_string(),
        });
    }
    let trailing_zeros = (significant.len() - trimmed.len()) as i128;
    let denom_len = denom.len() as i128;
    let (bin, shift) = if base == 2 {
        (exponent, 9 - denom_len + trailing_zeros)
    } else {
        (0, i128::from(exponent) + 9 - denom_len + trailing_zeros)
    };
    let magnitude = scaled_magnitude(trimmed, bin, shift);

    let magnitude = if format == Format::BinarySI {
        let capped = magnitude.map_or(MAX_BINARY_NANOS, |m| m.min(MAX_BINARY_NANOS));
        if capped < NANO as u128 {
            format = Format::DecimalSI;
        }
        capped
    } else {
        magnitude
            .filter(|m| *m <= i128::MAX as u128)
            .ok_or_else(|| QuantityError::TooLarge {
                input: input.to_string(),
            })?
    };
    // Both branches bound the magnitude by i128::MAX.
    let nanos = i128::try_from(magnitude).unwrap_or(i128::MAX);
    Ok(Quantity {
        nanos: if negative { -nanos } else { nanos },
        format,
        text,
    })
}

/// Upstream's fast path keeps the input string as the serialization when the
/// value fits an int64 without rounding and the text is already canonical in
/// shape; this mirrors those conditions exactly.
fn upstream_keeps_text(num: &str, denom: &str, base: u32, exponent: i64) -> bool {
    let precision = if base == 2 {
        if !denom.is_empty() {
            return false;
        }
        15 - num.len() as i64 - exponent * 3 / 10 - 1
    } else {
        18 - (num.len() + denom.len()) as i64
    };
    if precision < 0 {
        return false;
    }
    let scale = if base == 2 { 0 } else { exponent } - denom.len() as i64;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{num}{denom}");
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    if base == 2 {
        let fits = u32::try_from(exponent)
            .ok()
            .and_then(|e| 1i64.checked_shl(e))
            .and_then(|m| value.checked_mul(m))
            .is_some();
        fits && exponent % 10 == 0 && value & 0x07 != 0
    } else {
        scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0')
    }
}

/// `ceil(digits × 2^bin × 10^shift)`, or `None` when it exceeds 128 bits.
fn scaled_magnitude(digits: &str, bin: i64, shift: i128) -> Option<u128> {
    let mut big = BigUint::from_decimal(digits);
    let mut bin = bin;
    while bin > 0 {
        let step = bin.min(31);
        big.mul_add(1 << step, 0);
        bin -= step;
    }
    if shift >= 0 {
        let mut remaining = shift;
        while remaining > 0 {
            big.mul_add(10, 0);
            if big.limbs.len() > 4 {
                return None;
            }
            remaining -= 1;
        }
    } else {
        let mut remaining = -shift;
        let mut inexact = false;
        while remaining > 0 && !big.is_zero() {
            inexact |= big.div_rem(10) != 0;
            remaining -= 1;
        }
        if inexact {
            big.mul_add(1, 1);
        }
    }
    big.to_u128()
}

/// Just enough unsigned big-integer arithmetic for exact parsing.
struct BigUint {
    /// Little-endian base-2³² limbs without high zero limbs.
    limbs: Vec<u32>,
}

impl BigUint {
    fn from_decimal(digits: &str) -> BigUint {
        let mut big = BigUint { limbs: Vec::new() };
        for d in digits.bytes() {
            big.mul_add(10, u32::from(d.wrapping_sub(b'0')));
        }
        big
    }

    /// `self = self * m + a` for `m >= 1`.
    fn mul_add(&mut self, m: u32, a: u32) {
        let mut carry = u64::from(a);
        for limb in &mut self.limbs {
            let v = u64::from(*limb) * u64::from(m) + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.limbs.push(carry as u32);
        }
    }

    /// `self /= d`, returning the remainder.
    fn div_rem(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        rem as u32
    }

    fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    fn to_u128(&self) -> Option<u128> {
        if self.limbs.len() > 4 {
            return None;
        }
        Some(
            self.limbs
                .iter()
                .rev()
                .fold(0u128, |acc, l| (acc << 32) | u128::from(*l)),
        )
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Some(text) => f.write_str(text),
            None => f.write_str(&canonical(self.nanos, self.format)),
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Add for Quantity {
    type Output = Quantity;

    /// Saturates at the `i128` nano range.
    fn add(self, rhs: Quantity) -> Quantity {
        &self + &rhs
    }
}

impl Add for &Quantity {
    type Output = Quantity;

    fn add(self, rhs: &Quantity) -> Quantity {
        Quantity::from_nanos(
            self.nanos.saturating_add(rhs.nanos),
            self.combined_format(rhs),
        )
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    /// Saturates at the `i128` nano range.
    fn sub(self, rhs: Quantity) -> Quantity {
        &self - &rhs
    }
}

impl Sub for &Quantity {
    type Output = Quantity;

    fn sub(self, rhs: &Quantity) -> Quantity {
        Quantity::from_nanos(
            self.nanos.saturating_sub(rhs.nanos),
            self.combined_format(rhs),
        )
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        -&self
    }
}

impl Neg for &Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_neg(), self.format)
    }
}

impl AddAssign<&Quantity> for Quantity {
    fn add_assign(&mut self, rhs: &Quantity) {
        *self = &*self + rhs;
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        *self += &rhs;
    }
}

impl SubAssign<&Quantity> for Quantity {
    fn sub_assign(&mut self, rhs: &Quantity) {
        *self = &*self - rhs;
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, rhs: Quantity) {
        *self -= &rhs;
    }
}

impl Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::zero(), |acc, q| acc + q)
    }
}

impl<'a> Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::zero(), |acc, q| &acc + q)
    }
}

impl serde::Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Accepts a string (surrounding whitespace trimmed, as upstream), a JSON
/// number, or `null` (zero, as upstream).
impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Quantity;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity string such as \"500m\" or \"1Gi\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Quantity, E> {
                parse(v.trim()).map_err(E::custom)
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Quantity, E> {
                parse(&v.to_string()).map_err(E::custom)
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Quantity, E> {
                parse(&v.to_string()).map_err(E::custom)
            }

            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Quantity, E> {
                parse(&v.to_string()).map_err(E::custom)
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Quantity, E> {
                Ok(Quantity::zero())
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl TryFrom<&K8sQuantity> for Quantity {
    type Error = QuantityError;

    /// Parses the string (trimmed, as upstream's JSON decoding does).
    fn try_from(q: &K8sQuantity) -> Result<Self, Self::Error> {
        parse(q.0.trim())
    }
}

impl TryFrom<K8sQuantity> for Quantity {
    type Error = QuantityError;

    fn try_from(q: K8sQuantity) -> Result<Self, Self::Error> {
        Quantity::try_from(&q)
    }
}

impl From<&Quantity> for K8sQuantity {
    fn from(q: &Quantity) -> Self {
        K8sQuantity(q.to_string())
    }
}

impl From<Quantity> for K8sQuantity {
    fn from(q: Quantity) -> Self {
        K8sQuantity::from(&q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    const N: i128 = NANO;

    #[test]
    fn parse_values_and_formats() {
        use Format::*;
        let cases: &[(&str, i128, Format)] = &[
            ("0", 0, DecimalSI),
            ("0n", 0, DecimalSI),
            ("0m", 0, DecimalSI),
            ("0Ki", 0, BinarySI),
            ("0Gi", 0, BinarySI),
            ("-0", 0, DecimalSI),
            ("1", N, DecimalSI),
            ("2", 2 * N, DecimalSI),
            ("-1", -N, DecimalSI),
            ("+1", N, DecimalSI),
            ("500m", N / 2, DecimalSI),
            ("1.5", 3 * N / 2, DecimalSI),
            ("0.1", N / 10, DecimalSI),
            ("1e3", 1000 * N, DecimalExponent),
            ("1E3", 1000 * N, DecimalExponent),
            ("1E-3", N / 1000, DecimalExponent),
            ("1.3E+6", 1_300_000 * N, DecimalExponent),
            ("100n", 100, DecimalSI),
            ("5u", 5000, DecimalSI),
            ("5n", 5, DecimalSI),
            ("1k", 1000 * N, DecimalSI),
            ("50k", 50_000 * N, DecimalSI),
            ("1M", 1_000_000 * N, DecimalSI),
            ("1G", 1_000_000_000 * N, DecimalSI),
            ("1T", 10i128.pow(12) * N, DecimalSI),
            ("1P", 10i128.pow(15) * N, DecimalSI),
            ("1E", 10i128.pow(18) * N, DecimalSI),
            ("12E", 12 * 10i128.pow(18) * N, DecimalSI),
            ("1Ki", 1024 * N, BinarySI),
            ("1Mi", (1 << 20) * N, BinarySI),
            ("1Gi", (1 << 30) * N, BinarySI),
            ("1Ti", (1 << 40) * N, BinarySI),
            ("1Pi", (1 << 50) * N, BinarySI),
            ("1Ei", (1 << 60) * N, BinarySI),
            ("3Ei", 3 * (1 << 60) * N, BinarySI),
            ("1.5Gi", 1_610_612_736 * N, BinarySI),
            ("0.5Mi", 524_288 * N, BinarySI),
            ("100.035Ki", 10_243_584 * N / 100, BinarySI),
            ("100.035k", 100_035 * N, DecimalSI),
            ("0.0005k", N / 2, DecimalSI),
            ("7.123456M", 7_123_456 * N, DecimalSI),
            (".001", N / 1000, DecimalSI),
            ("1.", N, DecimalSI),
            ("1.G", 1_000_000_000 * N, DecimalSI),
            ("007", 7 * N, DecimalSI),
            // Rounding up to the nano-unit, away from zero.
            ("3.001n", 4, DecimalSI),
            ("1.1E-9", 2, DecimalExponent),
            ("0.0000000001", 1, DecimalSI),
            ("0.5e-9", 1, DecimalExponent),
            ("0.9n", 1, DecimalSI),
            ("-0.9n", -1, DecimalSI),
            ("0.00000012345", 124, DecimalSI),
            ("1e-1000000", 1, DecimalExponent),
            ("0e1000000", 0, DecimalExponent),
            // Binary values below one unit become DecimalSI.
            ("0.000000000001Ki", 2, DecimalSI),
            // Binary values are capped at 2^63-1 units.
            ("9Ei", i64::MAX as i128 * N, BinarySI),
            ("9223372036854775807Ki", i64::MAX as i128 * N, BinarySI),
            ("-9Ei", -(i64::MAX as i128) * N, BinarySI),
        ];
        for (input, nanos, format) in cases {
            let got = q(input);
            assert_eq!(got.nanos(), *nanos, "value of {input:?}");
            assert_eq!(got.format(), *format, "format of {input:?}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            "",
            "1.2.3",
            "Gi",
            "1 Gi",
            " 1",
            "1 ",
            "1iB",
            "1.1.M",
            "1+1.0M",
            "0.1mi",
            "0.1am",
            "aoeu",
            ".5i",
            "1i",
            "-3.01i",
            "-3.01e-",
            ".",
            "-.",
            "+",
            "-",
            "1K",
            "1e",
            "1Ee3",
            "1Mi5",
            "1e1.5",
            "1ki",
            "１",
            "1µ",
            "1\u{0}",
            "--1",
            "1e99999999999999999999",
        ];
        for input in cases {
            assert!(Quantity::parse(input).is_err(), "{input:?} parsed");
        }
        assert!(matches!(
            Quantity::parse("1e40"),
            Err(QuantityError::TooLarge { .. })
        ));
        assert!(matches!(
            Quantity::parse("1Zi"),
            Err(QuantityError::Format { .. }) | Err(QuantityError::Suffix { .. })
        ));
        assert_eq!(
            Quantity::parse("1.2.3").unwrap_err().to_string(),
            "invalid quantity \"1.2.3\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        assert_eq!(
            Quantity::parse("1Ee3").unwrap_err().to_string(),
            "invalid quantity \"1Ee3\": unable to parse quantity's suffix"
        );
        let long = format!("1.{}1", "0".repeat(2000));
        assert!(matches!(
            Quantity::parse(&long),
            Err(QuantityError::TooManyDigits { .. })
        ));
        // Many zeros are fine: they are not significant.
        assert_eq!(q(&format!("0.{}", "0".repeat(5000))).nanos(), 0);
        assert_eq!(q(&format!("1{}n", "0".repeat(20))).nanos(), 10i128.pow(20));
    }

    #[test]
    fn display() {
        // (input, upstream serialization)
        let cases = [
            ("0", "0"),
            ("0m", "0"),
            ("0Gi", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("+1", "+1"),
            ("-1", "-1"),
            ("007", "007"),
            ("1.5Gi", "1536Mi"),
            ("0.1", "100m"),
            ("1000", "1k"),
            ("1500m", "1500m"),
            ("1.5", "1500m"),
            ("1e3", "1e3"),
            ("1E3", "1E3"),
            ("1.5e3", "1500"),
            ("1e4", "10e3"),
            ("1e-1", "100e-3"),
            ("1024Ki", "1Mi"),
            ("1Ki", "1Ki"),
            ("1025Ki", "1025Ki"),
            ("2048Ki", "2Mi"),
            ("0.5Ki", "512"),
            ("1.5Ki", "1536"),
            ("100.035Ki", "102435840m"),
            ("0.000000000001Ki", "2n"),
            ("1Ei", "1Ei"),
            ("9Ei", "9223372036854775807"),
            ("1000Mi", "1000Mi"),
            ("8Ki", "8Ki"),
            ("1G", "1G"),
            ("1000M", "1G"),
            ("10k", "10k"),
            ("100m", "100m"),
            ("1000m", "1"),
            ("100n", "100n"),
            ("5u", "5u"),
            ("0.5u", "500n"),
            ("3.001n", "4n"),
            ("-1.5", "-1500m"),
            ("-1024Ki", "-1Mi"),
            ("12E", "12E"),
            ("1000E", "1000E"),
            ("1e21", "1e21"),
            ("1.0", "1"),
            ("0.50", "500m"),
            ("1.1E-9", "2e-9"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "display of {input:?}");
        }
    }

    #[test]
    fn canonical_ignores_kept_text() {
        let cases = [
            ("+1", "1"),
            ("1E3", "1e3"),
            ("007", "7"),
            ("1500m", "1500m"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_canonical_string(), want, "{input:?}");
        }
    }

    #[test]
    fn constructors_display() {
        let cases = [
            (Quantity::new(1024, Format::BinarySI), "1Ki"),
            (Quantity::new(1023, Format::BinarySI), "1023"),
            (Quantity::new(1000, Format::DecimalSI), "1k"),
            (Quantity::new(1000, Format::DecimalExponent), "1e3"),
            (Quantity::from_milli(1500, Format::DecimalSI), "1500m"),
            (Quantity::from_milli(1500, Format::BinarySI), "1500m"),
            (Quantity::from_nanos(1, Format::DecimalSI), "1n"),
            (Quantity::new(-2048, Format::BinarySI), "-2Ki"),
            (Quantity::zero(), "0"),
            (
                Quantity::new(1 << 62, Format::BinarySI).with_format(Format::BinarySI),
                "4Ei",
            ),
        ];
        for (quantity, want) in cases {
            assert_eq!(quantity.to_string(), want);
        }
        let big = Quantity::new(i64::MAX, Format::BinarySI);
        let bigger = &big + &big;
        assert_eq!(bigger.nanos(), 2 * i64::MAX as i128 * N);
        let huge = Quantity::from_nanos(1024 * (1i128 << 60) * N, Format::BinarySI);
        assert_eq!(huge.to_string(), "1024Ei");
    }

    #[test]
    fn comparison() {
        let equal = [
            ("1Gi", "1024Mi"),
            ("1000m", "1"),
            ("1k", "1000"),
            ("1e3", "1k"),
            ("0", "0Gi"),
            ("0.5", "500m"),
            ("-0", "0"),
        ];
        for (a, b) in equal {
            assert_eq!(q(a), q(b), "{a} == {b}");
            assert_eq!(q(a).cmp(&q(b)), Ordering::Equal);
        }
        let less = [
            ("50m", "100m"),
            ("100Gi", "10000T"),
            ("-1", "0"),
            ("1n", "1u"),
            ("999Mi", "1Gi"),
        ];
        for (a, b) in less {
            assert!(q(a) < q(b), "{a} < {b}");
        }
        let mut v = [q("1Gi"), q("500m"), q("2"), q("-1")];
        v.sort();
        let sorted: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["-1", "500m", "2", "1Gi"]);
    }

    #[test]
    fn arithmetic() {
        // (a, b, a+b, a-b)
        let cases = [
            ("1", "500m", "1500m", "500m"),
            ("1Gi", "512Mi", "1536Mi", "512Mi"),
            ("0", "1Gi", "1Gi", "-1Gi"),
            ("100m", "100m", "200m", "0"),
            ("1k", "1", "1001", "999"),
            ("1e3", "1e3", "2e3", "0"),
        ];
        for (a, b, sum, diff) in cases {
            assert_eq!((q(a) + q(b)).to_string(), sum, "{a} + {b}");
            assert_eq!((q(a) - q(b)).to_string(), diff, "{a} - {b}");
            assert_eq!(q(a).checked_add(&q(b)).unwrap().to_string(), sum);
            assert_eq!(q(a).checked_sub(&q(b)).unwrap().to_string(), diff);
        }
        assert_eq!((-q("1Gi")).to_string(), "-1Gi");
        assert_eq!((-q("+1")).to_string(), "-1");
        assert_eq!((-q("-500m")).to_string(), "500m");
        let mut total = q("100m");
        total += q("200m");
        total -= &q("50m");
        assert_eq!(total.to_string(), "250m");
        let sum: Quantity = ["1Gi", "1Gi", "2Gi"].iter().map(|s| q(s)).sum();
        assert_eq!(sum.to_string(), "4Gi");
        let max = Quantity::from_nanos(i128::MAX, Format::DecimalSI);
        assert!(max.checked_add(&q("1n")).is_none());
        assert_eq!((max.clone() + q("1")).nanos(), i128::MAX);
        assert!(max.checked_sub(&q("-1")).is_none());
        assert!(q("0").is_zero() && q("0Gi").is_zero() && !q("1n").is_zero());
    }

    #[test]
    fn value_and_milli_value() {
        // (input, value, milli)
        let cases = [
            ("0", 0, 0),
            ("1", 1, 1000),
            ("1500m", 2, 1500),
            ("100m", 1, 100),
            ("-1500m", -2, -1500),
            ("1n", 1, 1),
            ("-1n", -1, -1),
            ("1Ki", 1024, 1_024_000),
            ("2.5", 3, 2500),
            ("1Ei", 1 << 60, i64::MAX),
            ("-8Ei", -i64::MAX, i64::MIN),
            ("1e28", i64::MAX, i64::MAX),
        ];
        for (input, value, milli) in cases {
            assert_eq!(q(input).value(), value, "value of {input:?}");
            assert_eq!(q(input).milli_value(), milli, "milli of {input:?}");
        }
        assert!((q("1500m").as_f64() - 1.5).abs() < 1e-12);
    }

    #[test]
    fn serde_roundtrip() {
        let cases = [
            ("\"1Gi\"", "\"1Gi\""),
            ("\"1.5Gi\"", "\"1536Mi\""),
            ("\" 100m \"", "\"100m\""),
            ("2", "\"2\""),
            ("0.5", "\"500m\""),
            ("-3", "\"-3\""),
            ("null", "\"0\""),
        ];
        for (json, want) in cases {
            let parsed: Quantity =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(serde_json::to_string(&parsed).unwrap(), want, "{json}");
        }
        for bad in ["\"1.2.3\"", "\"\"", "true", "[]", "{}"] {
            assert!(serde_json::from_str::<Quantity>(bad).is_err(), "{bad}");
        }
        #[derive(serde::Deserialize)]
        struct Limits {
            cpu: Option<Quantity>,
        }
        let limits: Limits = serde_json::from_str("{\"cpu\":\"250m\"}").unwrap();
        assert_eq!(limits.cpu.unwrap().milli_value(), 250);
    }

    #[test]
    fn k8s_openapi_conversion() {
        let k = K8sQuantity("1.5Gi".to_string());
        let ours = Quantity::try_from(&k).unwrap();
        assert_eq!(ours, q("1536Mi"));
        assert_eq!(K8sQuantity::from(&ours).0, "1536Mi");
        assert_eq!(K8sQuantity::from(q("1E3")).0, "1E3");
        assert!(Quantity::try_from(K8sQuantity("bogus".to_string())).is_err());
        assert_eq!(
            Quantity::try_from(K8sQuantity(" 2 ".to_string())).unwrap(),
            q("2")
        );
    }

    #[test]
    fn hash_is_by_value() {
        use std::collections::HashSet;
        let set: HashSet<Quantity> = ["1Gi", "1024Mi", "1073741824"]
            .iter()
            .map(|s| q(s))
            .collect();
        assert_eq!(set.len(), 1);
    }

    /// Every string of up to three characters from an adversarial alphabet:
    /// parsing never panics, and whatever parses prints (both ways) to text
    /// that parses back to the same value.
    #[test]
    fn exhaustive_short_inputs_roundtrip() {
        let alphabet: Vec<char> = "0159.+-eEinmkKMGTP é".chars().collect();
        let mut inputs = vec![String::new()];
        for _ in 0..3 {
            let mut next = Vec::new();
            for prefix in &inputs {
                for c in &alphabet {
                    next.push(format!("{prefix}{c}"));
                }
            }
            inputs.extend(next.iter().cloned());
            inputs = inputs
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
        }
        for input in inputs
            .iter()
            .chain(["1Ki", "9Ei", "1.5Gi"].map(String::from).iter())
        {
            let Ok(parsed) = Quantity::parse(input) else {
                continue;
            };
            for printed in [parsed.to_string(), parsed.to_canonical_string()] {
                let again = Quantity::parse(&printed)
                    .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
                assert_eq!(again, parsed, "{input:?} printed as {printed:?}");
            }
            let _ = (
                parsed.value(),
                parsed.milli_value(),
                -&parsed,
                &parsed + &parsed,
            );
        }
    }
}
