//! Values of the scenario model: [`SettingValue`], a server or session setting as written
//! (string, number or boolean); [`Toggle`], a duration that can be switched off; and
//! [`ResetOnReturn`], what a pool does to a connection given back.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A server or session setting: a string, number or boolean, passed on as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingValue(pub String);

impl Serialize for SettingValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SettingValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue(if v { "on" } else { "off" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration that can be switched off with `"off"` (bb8's `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Toggle(pub Option<Duration>);

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(d) => s.serialize_str(&humantime::format_duration(d).to_string()),
            None => s.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Toggle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10m\", or \"off\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Toggle, E> {
                if v == "off" {
                    return Ok(Toggle(None));
                }
                let d = humantime::parse_duration(v)
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))?;
                match crate::scenario::duration::too_long(d) {
                    Some(message) => Err(E::custom(message)),
                    None => Ok(Toggle(Some(d))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// What a pool does to a connection given back to it: SQLAlchemy's `reset_on_return`,
/// PgBouncer's `server_reset_query`. The vocabulary shared by `pool.reset_on_return` (bb8) and
/// the pool models that reset on release.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResetOnReturn {
    /// Nothing: the next user gets the session as it was left (bb8).
    #[default]
    None,
    /// `ROLLBACK`: ends an open transaction; session settings stay.
    Rollback,
    /// `DISCARD ALL`: a fresh session (settings, temporary tables, prepared statements,
    /// `LISTEN`s and advisory locks all gone).
    DiscardAll,
}

impl ResetOnReturn {
    pub(crate) fn is_none(&self) -> bool {
        *self == ResetOnReturn::None
    }

    /// The statement sent on return, if any.
    pub(crate) fn sql(self) -> Option<&'static str> {
        match self {
            ResetOnReturn::None => None,
            ResetOnReturn::Rollback => Some("ROLLBACK"),
            ResetOnReturn::DiscardAll => Some("DISCARD ALL"),
        }
    }
}
