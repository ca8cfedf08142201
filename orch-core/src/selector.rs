//! Label and field selectors, with Kubernetes' syntax and semantics.
//!
//! Label selectors: `app=web,tier in (a,b),!canary` — equality (`=`, `==`,
//! `!=`), sets (`in`, `notin`) and existence (`key`, `!key`), ANDed. As
//! Kubernetes, `key!=v` and `key notin (…)` also match objects without `key`.
//!
//! Field selectors: `metadata.name=web-0,status.phase!=Running`, over the
//! fields a kind supports (see [`crate::Object::field`]).
//!
//! ```
//! use std::collections::BTreeMap;
//! use orch_core::selector::LabelSelector;
//!
//! let s: LabelSelector = "app=web,tier in (a,b),!canary".parse()?;
//! let labels = BTreeMap::from([("app".into(), "web".into()), ("tier".into(), "a".into())]);
//! assert!(s.matches(&labels));
//! # Ok::<(), orch_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::meta;
use crate::validation;
use crate::{Error, Object, Result};

/// One requirement on one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value`: absent or different.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, BTreeSet<String>),
    /// `key notin (a,b)`: absent or not in the set.
    NotIn(String, BTreeSet<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

impl Requirement {
    /// True if `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }

    fn key(&self) -> &str {
        match self {
            Requirement::Equals(k, _)
            | Requirement::NotEquals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
        }
    }
}

/// A parsed label selector: requirements that must all hold. The empty
/// selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// The requirements, ANDed.
    pub requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// True if `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True if there are no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Converts the object form (`matchLabels`, `matchExpressions`), as in a
    /// ReplicaSet's `spec.selector`.
    ///
    /// Errors: [`Error::Selector`] for an unknown operator, values where none
    /// belong, no values for `In`/`NotIn`, or an invalid key or value.
    pub fn from_object(selector: &meta::LabelSelector) -> Result<Self> {
        let err = |reason: String| Error::Selector { selector: format!("{selector:?}"), reason };
        let mut requirements = Vec::new();
        for (k, v) in &selector.match_labels {
            check_key(k).map_err(&err)?;
            check_value(v).map_err(&err)?;
            requirements.push(Requirement::Equals(k.clone(), v.clone()));
        }
        for e in &selector.match_expressions {
            check_key(&e.key).map_err(&err)?;
            let values: BTreeSet<String> = e.values.iter().cloned().collect();
            for v in &values {
                check_value(v).map_err(&err)?;
            }
            let req = match e.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(err(format!("operator {} needs values", e.operator)))
                }
                "In" => Requirement::In(e.key.clone(), values),
                "NotIn" => Requirement::NotIn(e.key.clone(), values),
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(err(format!("operator {} takes no values", e.operator)))
                }
                "Exists" => Requirement::Exists(e.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(e.key.clone()),
                other => {
                    return Err(err(format!(
                        "unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"
                    )))
                }
            };
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }

    /// The selector `key=value` for every pair of `labels`.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        LabelSelector {
            requirements: labels
                .iter()
                .map(|(k, v)| Requirement::Equals(k.clone(), v.clone()))
                .collect(),
        }
    }
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    validation::label_key(key).map_err(|e| format!("key {key:?}: {e}"))
}

fn check_value(value: &str) -> std::result::Result<(), String> {
    validation::label_value(value).map_err(|e| format!("value {value:?}: {e}"))
}

impl FromStr for LabelSelector {
    type Err = Error;

    /// Parses Kubernetes' label selector syntax.
    ///
    /// Errors: [`Error::Selector`] naming the offending part.
    fn from_str(text: &str) -> Result<Self> {
        let err = |reason: String| Error::Selector { selector: text.to_owned(), reason };
        let mut requirements = Vec::new();
        for part in split_top_level(text).map_err(&err)? {
            let part = part.trim();
            if part.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(err("empty requirement".into()));
            }
            let req = parse_requirement(part).map_err(&err)?;
            check_key(req.key()).map_err(&err)?;
            match &req {
                Requirement::Equals(_, v) | Requirement::NotEquals(_, v) => {
                    check_value(v).map_err(&err)?
                }
                Requirement::In(_, vs) | Requirement::NotIn(_, vs) => {
                    for v in vs {
                        check_value(v).map_err(&err)?;
                    }
                }
                _ => {}
            }
            requirements.push(req);
        }
        Ok(LabelSelector { requirements })
    }
}

/// Splits on commas outside parentheses.
fn split_top_level(text: &str) -> std::result::Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".into());
                }
            }
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str) -> std::result::Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key.trim().to_owned()));
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some(open) = part.find('(') {
        let head = part[..open].trim();
        let body = part[open + 1..]
            .trim_end()
            .strip_suffix(')')
            .ok_or_else(|| format!("{part:?}: set must end with ')'"))?;
        let (key, op) = head
            .rsplit_once(char::is_whitespace)
            .ok_or_else(|| format!("{part:?}: expected `key in (…)` or `key notin (…)`"))?;
        let values: BTreeSet<String> =
            body.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return Err(format!("{part:?}: empty set"));
        }
        return match op {
            "in" => Ok(Requirement::In(key.trim().into(), values)),
            "notin" => Ok(Requirement::NotIn(key.trim().into(), values)),
            other => Err(format!("{part:?}: unknown set operator {other:?} (in, notin)")),
        };
    }
    if part.contains(char::is_whitespace) {
        return Err(format!("{part:?}: expected an operator"));
    }
    Ok(Requirement::Exists(part.to_owned()))
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |vs: &BTreeSet<String>| vs.iter().cloned().collect::<Vec<_>>().join(",");
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Requirement::Equals(k, v) => write!(f, "{k}={v}")?,
                Requirement::NotEquals(k, v) => write!(f, "{k}!={v}")?,
                Requirement::In(k, vs) => write!(f, "{k} in ({})", join(vs))?,
                Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", join(vs))?,
                Requirement::Exists(k) => write!(f, "{k}")?,
                Requirement::DoesNotExist(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

/// One field requirement: `field=value` or `field!=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field path, e.g. `spec.nodeName`.
    pub field: String,
    /// The value compared against.
    pub value: String,
    /// True for `!=`.
    pub negated: bool,
}

/// A parsed field selector: requirements that must all hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// The requirements, ANDed.
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// `field=value`.
    pub fn equals(field: &str, value: &str) -> Self {
        FieldSelector {
            requirements: vec![FieldRequirement {
                field: field.to_owned(),
                value: value.to_owned(),
                negated: false,
            }],
        }
    }

    /// True if there are no requirements.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Checks that `obj`'s kind supports every field named.
    ///
    /// Errors: [`Error::Selector`] naming the unsupported field.
    pub fn check_supported<K: Object>(&self, obj: &K) -> Result<()> {
        for r in &self.requirements {
            if obj.field(&r.field).is_none() {
                return Err(Error::Selector {
                    selector: self.to_string(),
                    reason: format!("field label {:?} is not supported", r.field),
                });
            }
        }
        Ok(())
    }

    /// True if `obj` satisfies every requirement; a field the kind does not
    /// support never matches.
    pub fn matches<K: Object>(&self, obj: &K) -> bool {
        self.requirements.iter().all(|r| match obj.field(&r.field) {
            Some(v) => (v == r.value) != r.negated,
            None => false,
        })
    }
}

impl FromStr for FieldSelector {
    type Err = Error;

    /// Parses `a=b,c!=d` (`==` is accepted for `=`).
    ///
    /// Errors: [`Error::Selector`] for a part without an operator.
    fn from_str(text: &str) -> Result<Self> {
        let mut requirements = Vec::new();
        if text.trim().is_empty() {
            return Ok(FieldSelector::default());
        }
        for part in text.split(',') {
            let part = part.trim();
            let (field, value, negated) = if let Some((f, v)) = part.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, v, false)
            } else {
                return Err(Error::Selector {
                    selector: text.to_owned(),
                    reason: format!("{part:?} is not field=value or field!=value"),
                });
            };
            if field.trim().is_empty() {
                return Err(Error::Selector {
                    selector: text.to_owned(),
                    reason: format!("{part:?} has no field"),
                });
            }
            requirements.push(FieldRequirement {
                field: field.trim().to_owned(),
                value: value.trim().to_owned(),
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if r.negated { "!=" } else { "=" };
            write!(f, "{}{op}{}", r.field, r.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_parse_and_match_as_kubernetes() {
        let s: LabelSelector = "app=web,tier in (a, b),!canary".parse().unwrap();
        assert_eq!(s.requirements.len(), 3);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a"), ("canary", "")])));
        assert!(!s.matches(&labels(&[("tier", "a")])));

        let s: LabelSelector = "env!=prod,zone notin (x),app==web,ready".parse().unwrap();
        assert!(
            s.matches(&labels(&[("app", "web"), ("ready", "1")])),
            "absent keys satisfy != and notin"
        );
        assert!(!s.matches(&labels(&[("app", "web"), ("ready", "1"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("ready", "1"), ("zone", "x")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert_eq!(s.to_string(), "env!=prod,zone notin (x),app=web,ready");

        assert!("".parse::<LabelSelector>().unwrap().matches(&labels(&[])));
    }

    #[test]
    fn bad_label_selectors_are_errors() {
        for bad in [
            "app=web,",
            "tier in (a,b",
            "tier in ()",
            "tier within (a)",
            "a b",
            "app=bad value!",
            "-app=web",
            "x)",
            "app=web,,tier=a",
        ] {
            assert!(
                matches!(bad.parse::<LabelSelector>(), Err(Error::Selector { .. })),
                "{bad:?} should not parse"
            );
        }
    }

    #[test]
    fn object_selectors_convert() {
        let obj = meta::LabelSelector {
            match_labels: BTreeMap::from([("app".into(), "web".into())]),
            match_expressions: vec![meta::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: vec!["a".into()],
            }],
        };
        let s = LabelSelector::from_object(&obj).unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "a")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        let bad = meta::LabelSelector {
            match_expressions: vec![meta::LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Near".into(),
                values: vec![],
            }],
            ..Default::default()
        };
        assert!(LabelSelector::from_object(&bad).is_err());
    }

    #[test]
    fn field_selectors_parse() {
        let s: FieldSelector = "spec.nodeName=n1,status.phase!=Running".parse().unwrap();
        assert_eq!(s.requirements.len(), 2);
        assert!(s.requirements[1].negated);
        assert_eq!(s.to_string(), "spec.nodeName=n1,status.phase!=Running");
        assert!("spec.nodeName".parse::<FieldSelector>().is_err());
    }
}
