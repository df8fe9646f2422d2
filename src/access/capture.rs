//! Reading a captured column (`capture = ["id"]`) back into a parameter value.
//!
//! Results arrive in binary format; the types a workload typically captures (integers, floats,
//! booleans, text, uuid, json) are decoded here. Other types are refused when the statement is
//! prepared, before the load, with a hint to cast the column in SQL.

use std::error::Error;

use tokio_postgres::types::{FromSql, Type};

use crate::value::Value;

/// A captured column value.
#[derive(Debug)]
pub(crate) struct Captured(pub Value);

/// Whether a column of this type can be captured.
pub(crate) fn supported(ty: &Type) -> bool {
    <Captured as FromSql>::accepts(ty)
}

impl<'a> FromSql<'a> for Captured {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let v = match *ty {
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::UUID => Value::Text(uuid_text(raw)?),
            // jsonb's binary form is a version byte (1) followed by the text.
            Type::JSONB => {
                Value::Text(std::str::from_utf8(raw.get(1..).unwrap_or_default())?.to_string())
            }
            _ => Value::Text(std::str::from_utf8(raw)?.to_string()),
        };
        Ok(Captured(v))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(Captured(Value::Null))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT2
                | Type::INT4
                | Type::INT8
                | Type::OID
                | Type::FLOAT4
                | Type::FLOAT8
                | Type::BOOL
                | Type::UUID
                | Type::JSON
                | Type::JSONB
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::UNKNOWN
        )
    }
}

fn uuid_text(raw: &[u8]) -> Result<String, Box<dyn Error + Sync + Send>> {
    if raw.len() != 16 {
        return Err("a uuid is 16 bytes".into());
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}
