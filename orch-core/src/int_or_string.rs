//! `IntOrString`: a field that takes an integer or a string, such as a port
//! (`8080` or `"http"`) or a rollout bound (`1` or `"25%"`).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// An integer or a string (Kubernetes `intstr.IntOrString`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// An integer.
    Int(i32),
    /// A string: a named port, or a percentage such as `"25%"`.
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl IntOrString {
    /// Resolves an integer or a percentage of `total`, rounding a percentage
    /// up or down (Kubernetes `GetScaledValueFromIntOrPercent`). `"25%"` of
    /// 10 is 3 rounded up, 2 rounded down.
    ///
    /// Errors: [`Error::Invalid`] for a string that is not `N%`.
    pub fn scaled_value(&self, total: i32, round_up: bool) -> Result<i32> {
        match self {
            IntOrString::Int(n) => Ok(*n),
            IntOrString::String(s) => {
                let pct: i64 = s
                    .strip_suffix('%')
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| Error::Invalid {
                        object: String::new(),
                        field: String::new(),
                        reason: format!(
                            "{s:?} is neither an integer nor a percentage like \"25%\""
                        ),
                    })?;
                let product = pct * i64::from(total);
                let value = if round_up { (product + 99) / 100 } else { product / 100 };
                Ok(value as i32)
            }
        }
    }
}

impl From<i32> for IntOrString {
    fn from(n: i32) -> Self {
        IntOrString::Int(n)
    }
}

impl From<&str> for IntOrString {
    fn from(s: &str) -> Self {
        IntOrString::String(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_with_rounding() {
        let p = IntOrString::from("25%");
        assert_eq!(p.scaled_value(10, true).unwrap(), 3);
        assert_eq!(p.scaled_value(10, false).unwrap(), 2);
        assert_eq!(IntOrString::from(4).scaled_value(10, true).unwrap(), 4);
        assert!(IntOrString::from("x%").scaled_value(10, true).is_err());
        let v: Vec<IntOrString> = serde_json::from_str(r#"[1, "25%"]"#).unwrap();
        assert_eq!(v, vec![IntOrString::Int(1), IntOrString::String("25%".into())]);
    }
}
