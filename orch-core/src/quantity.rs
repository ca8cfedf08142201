//! Kubernetes resource quantities: `"250m"`, `"1.5"`, `"128Mi"`, `"1G"`, `"2e3"`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// A Kubernetes quantity, kept as written.
///
/// Kubernetes resource quantities: `"250m"`, `"1.5"`, `"128Mi"`, `"1G"`, `"2e3"`.
///
/// A [`Quantity`] keeps the text it was written with (so manifests round-trip
/// unchanged) and is parsed exactly, with integer arithmetic, into millicores
/// ([`Quantity::as_millis`]) or bytes ([`Quantity::as_bytes`]). As Kubernetes,
/// a value that is not a whole number of the unit is rounded up (away from
/// zero): `"0.5m"` is 1 millicore, `"1.5"` bytes is 2 bytes.
///
/// ```
/// use orch_core::Quantity;
/// assert_eq!(Quantity::from("250m").as_millis()?, 250);
/// assert_eq!(Quantity::from("1.5").as_millis()?, 1500);
/// assert_eq!(Quantity::from("128Mi").as_bytes()?, 128 * 1024 * 1024);
/// assert_eq!(Quantity::from("1G").as_bytes()?, 1_000_000_000);
/// assert_eq!(Quantity::from("2e3").as_bytes()?, 2000);
/// assert!(Quantity::from("12 apples").as_bytes().is_err());
/// # Ok::<(), orch_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quantity(pub String);

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Quantity(s.to_owned())
    }
}

impl From<String> for Quantity {
    fn from(s: String) -> Self {
        Quantity(s)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a string, or a number as YAML writes `cpu: 2` or `memory: 1e9`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a quantity such as \"250m\" or \"128Mi\", or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Quantity, E> {
                Ok(Quantity(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A parsed quantity: `mantissa × 10^exp10 × 2^exp2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parsed {
    mantissa: i128,
    exp10: i32,
    exp2: u32,
}

impl Quantity {
    /// The quantity in thousandths of its unit, rounded up: millicores for cpu.
    ///
    /// Errors: [`Error::Quantity`] if the text is not a quantity or the value
    /// does not fit in an `i64`.
    pub fn as_millis(&self) -> Result<i64> {
        self.scaled(3)
    }

    /// The quantity in whole units, rounded up: bytes for memory and storage,
    /// a count for `pods`.
    ///
    /// Errors: [`Error::Quantity`] if the text is not a quantity or the value
    /// does not fit in an `i64`.
    pub fn as_bytes(&self) -> Result<i64> {
        self.scaled(0)
    }

    /// Checks that the text is a valid quantity.
    ///
    /// Errors: [`Error::Quantity`] naming what is wrong.
    pub fn validate(&self) -> Result<()> {
        parse(&self.0).map(|_| ())
    }

    /// A cpu quantity of `millis` millicores, written as Kubernetes writes it.
    pub fn from_millis(millis: i64) -> Self {
        if millis % 1000 == 0 {
            Quantity((millis / 1000).to_string())
        } else {
            Quantity(format!("{millis}m"))
        }
    }

    /// A quantity of `bytes` bytes, in the largest exact binary unit.
    pub fn from_bytes(bytes: i64) -> Self {
        const UNITS: [(&str, i64); 6] = [
            ("Ei", 1 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ];
        for (suffix, unit) in UNITS {
            if bytes != 0 && bytes % unit == 0 {
                return Quantity(format!("{}{suffix}", bytes / unit));
            }
        }
        Quantity(bytes.to_string())
    }

    /// `value × 10^scale`, rounded away from zero.
    fn scaled(&self, scale: i32) -> Result<i64> {
        let p = parse(&self.0)?;
        let overflow = || self.error("value out of range");
        let mut n = p.mantissa;
        for _ in 0..p.exp2 {
            n = n.checked_mul(2).ok_or_else(overflow)?;
        }
        let exp = p.exp10 + scale;
        if exp >= 0 {
            for _ in 0..exp {
                n = n.checked_mul(10).ok_or_else(overflow)?;
            }
        } else {
            let mut div: i128 = 1;
            for _ in 0..(-exp) {
                div = match div.checked_mul(10) {
                    Some(d) => d,
                    // The divisor exceeds any mantissa: the value rounds to ±1 or 0.
                    None => return Ok(n.signum() as i64),
                };
            }
            let (q, r) = (n / div, n % div);
            n = if r == 0 { q } else { q + n.signum() };
        }
        i64::try_from(n).map_err(|_| overflow())
    }

    fn error(&self, reason: &str) -> Error {
        Error::Quantity { quantity: self.0.clone(), reason: reason.to_owned() }
    }
}

/// Parses the quantity grammar of Kubernetes' `resource.ParseQuantity`.
fn parse(text: &str) -> Result<Parsed> {
    let err =
        |reason: &str| Error::Quantity { quantity: text.to_owned(), reason: reason.to_owned() };
    let s = text.trim();
    if s.is_empty() {
        return Err(err("empty quantity"));
    }
    if s != text {
        return Err(err("surrounding whitespace"));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes[0] {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    let mut significant = 0usize;
    let mut seen_point = false;
    while i < bytes.len() {
        match bytes[i] {
            c @ b'0'..=b'9' => {
                digits += 1;
                if mantissa != 0 || c != b'0' {
                    significant += 1;
                    if significant > 36 {
                        return Err(err("too many significant digits"));
                    }
                }
                mantissa = mantissa * 10 + i128::from(c - b'0');
                if seen_point {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'.' => return Err(err("more than one decimal point")),
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(err("no digits"));
    }
    let suffix = &s[i..];
    let mut exp2 = 0u32;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        _ if suffix.starts_with(['e', 'E']) => {
            let exp = &suffix[1..];
            let body = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("exponent must be an integer, as in 2e3"));
            }
            let e: i32 = exp.parse().map_err(|_| err("exponent out of range"))?;
            if e.abs() > 60 {
                return Err(err("exponent out of range"));
            }
            exp10 += e;
        }
        _ => {
            return Err(err(&format!(
                "unknown suffix {suffix:?} (use one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)"
            )))
        }
    }
    Ok(Parsed { mantissa: if negative { -mantissa } else { mantissa }, exp10, exp2 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(s: &str) -> i64 {
        Quantity::from(s).as_millis().unwrap()
    }

    fn bytes(s: &str) -> i64 {
        Quantity::from(s).as_bytes().unwrap()
    }

    #[test]
    fn cpu_quantities_parse_exactly_into_millicores() {
        assert_eq!(millis("250m"), 250);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("2"), 2000);
        assert_eq!(millis("0.1"), 100);
        assert_eq!(millis(".5"), 500);
        assert_eq!(millis("1."), 1000);
        assert_eq!(millis("2e3"), 2_000_000);
        assert_eq!(millis("100u"), 1, "0.1 millicore rounds up");
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(millis("1k"), 1_000_000);
        assert_eq!(millis("+3"), 3000);
        assert_eq!(millis("-250m"), -250);
    }

    #[test]
    fn memory_quantities_parse_exactly_into_bytes() {
        assert_eq!(bytes("128Mi"), 134_217_728);
        assert_eq!(bytes("1G"), 1_000_000_000);
        assert_eq!(bytes("1Gi"), 1 << 30);
        assert_eq!(bytes("1.5Gi"), 3 << 29);
        assert_eq!(bytes("2e3"), 2000);
        assert_eq!(bytes("1E3"), 1000);
        assert_eq!(bytes("5e-1"), 1, "half a byte rounds up");
        assert_eq!(bytes("1.5"), 2);
        assert_eq!(bytes("129e6"), 129_000_000);
        assert_eq!(bytes("1Ei"), 1 << 60);
        assert_eq!(bytes("7Ei"), 7 << 60);
        assert_eq!(bytes("0"), 0);
        assert_eq!(bytes("100m"), 1);
    }

    #[test]
    fn bad_quantities_are_errors() {
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "1.2.3",
            "12Mii",
            "1KB",
            "-",
            "1e",
            "1e1.5",
            "e3",
            "1Gi5",
            "0x10",
            "1,5",
            "--1",
            "8Ei",
            "9Ei",
            "99999999999999999999999999999999999999999",
        ] {
            let q = Quantity::from(bad);
            let outcome = q.as_bytes().and_then(|_| q.as_millis());
            assert!(matches!(outcome, Err(Error::Quantity { .. })), "{bad:?} gave {outcome:?}");
        }
    }

    #[test]
    fn quantities_deserialize_from_strings_and_numbers() {
        let q: Vec<Quantity> = serde_json::from_str(r#"["250m", 2, 1.5, 1e9]"#).unwrap();
        assert_eq!(q[0].as_millis().unwrap(), 250);
        assert_eq!(q[1].as_millis().unwrap(), 2000);
        assert_eq!(q[2].as_millis().unwrap(), 1500);
        assert_eq!(q[3].as_bytes().unwrap(), 1_000_000_000);
        assert_eq!(serde_json::to_string(&q[0]).unwrap(), r#""250m""#);
    }

    #[test]
    fn quantities_format_from_units() {
        assert_eq!(Quantity::from_millis(1500).0, "1500m");
        assert_eq!(Quantity::from_millis(2000).0, "2");
        assert_eq!(Quantity::from_bytes(128 << 20).0, "128Mi");
        assert_eq!(Quantity::from_bytes(1000).0, "1000");
        assert_eq!(Quantity::from_bytes(128 << 20).as_bytes().unwrap(), 128 << 20);
    }
}
