//! Timestamps as Kubernetes writes them: `Time` (RFC 3339, whole seconds, UTC,
//! e.g. `2026-11-22T00:18:05Z`) and `MicroTime` (microseconds, as Lease and
//! Event use).

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! timestamp {
    ($(#[$doc:meta])* $name:ident, $format:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub DateTime<Utc>);

        impl $name {
            /// The current time.
            pub fn now() -> Self {
                Self::from(Utc::now())
            }
        }

        impl From<DateTime<Utc>> for $name {
            fn from(t: DateTime<Utc>) -> Self {
                // Keep only the precision that survives serialization, so a
                // value compares equal to itself after a round trip.
                let text = t.to_rfc3339_opts($format, true);
                $name(DateTime::parse_from_rfc3339(&text).map_or(t, |p| p.with_timezone(&Utc)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0.to_rfc3339_opts($format, true))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                DateTime::parse_from_rfc3339(&text)
                    .map(|t| $name(t.with_timezone(&Utc)))
                    .map_err(|e| serde::de::Error::custom(format!("invalid RFC 3339 time {text:?}: {e}")))
            }
        }
    };
}

timestamp!(
    /// A timestamp with whole-second precision (Kubernetes `metav1.Time`).
    Time,
    SecondsFormat::Secs
);

timestamp!(
    /// A timestamp with microsecond precision (Kubernetes `metav1.MicroTime`).
    MicroTime,
    SecondsFormat::Micros
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_at_their_precision() {
        let t: Time = serde_json::from_str(r#""2024-05-01T10:20:30Z""#).unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""2024-05-01T10:20:30Z""#);
        let now = Time::now();
        let back: Time = serde_json::from_str(&serde_json::to_string(&now).unwrap()).unwrap();
        assert_eq!(back, now);
        let m: MicroTime = serde_json::from_str(r#""2024-05-01T10:20:30.123456Z""#).unwrap();
        assert_eq!(m.to_string(), "2024-05-01T10:20:30.123456Z");
        assert!(serde_json::from_str::<Time>(r#""yesterday""#).is_err());
    }
}
