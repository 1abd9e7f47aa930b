//! An admin request's JSON body, read as JSON means its numbers: `75152.0` is the integer 75152 (an `integer` of
//! JSON Schema, as the API description states it), so a client whose language writes whole numbers with `.0` is
//! not refused. A field of the wrong type is named in the 400 (`bonus: invalid type: …`).

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::{DeserializeOwned, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::HttpError;

/// A JSON body of type `T` (size limit and syntax errors as `web::Json`'s, configured in `admin_routes`).
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move { Ok(JsonBody(read(json.await?.get())?)) })
    }
}

/// `text` as a `T`: read as it stands (a repeated key refused, as serde does); when only a whole number written as
/// a float stood in the way, read again with it as the integer. The error names the field at fault.
pub fn read<T: DeserializeOwned>(text: &str) -> Result<T, HttpError> {
    let strict: Result<T, _> =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text));
    let refusal = match strict {
        Ok(value) => return Ok(value),
        Err(e) => HttpError::BadParam {
            name: "body",
            reason: e.to_string(),
        },
    };
    let Ok(Unrepeated(mut value)) = serde_json::from_str::<Unrepeated>(text) else {
        return Err(refusal);
    };
    if !whole_numbers(&mut value) {
        return Err(refusal);
    }
    serde_path_to_error::deserialize(value).map_err(|e| HttpError::BadParam {
        name: "body",
        reason: e.to_string(),
    })
}

/// A JSON value none of whose objects repeats a key (serde_json's `Value` would keep the last one, where reading
/// into a struct refuses it).
struct Unrepeated(Value);

impl<'de> Deserialize<'de> for Unrepeated {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UnrepeatedVisitor)
            .map(Unrepeated)
    }
}

struct UnrepeatedVisitor;

impl<'de> Visitor<'de> for UnrepeatedVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(n.into())
    }
    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(text.into())
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unrepeated(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Unrepeated(value) = map.next_value()?;
            if fields.contains_key(&key) {
                return Err(A::Error::custom(format!("duplicate field `{key}`")));
            }
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// The largest integer every f64 up to it holds exactly (2^53): past it `12345678901234567.0` is already another
/// number, and is left a float (and refused where an integer is due).
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Every number written with a fraction of zero (`75152.0`, `1.5e3`) that a float holds exactly, as that integer;
/// whether any was.
fn whole_numbers(value: &mut Value) -> bool {
    match value {
        Value::Number(n) => match n.as_f64().filter(|_| n.is_f64()) {
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => {
                *value = Value::from(f as i64);
                true
            }
            _ => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |any, v| whole_numbers(v) | any),
        Value::Object(fields) => fields
            .values_mut()
            .fold(false, |any, v| whole_numbers(v) | any),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_integers_and_the_rest_stays() {
        let mut value = serde_json::json!({
            "bonus": 75152.0, "balance": 1.5e3, "rate": 0.5, "big": 1e57, "past_exact": 12345678901234567.0,
            "list": [2.0, 3], "text": "4.0"
        });
        assert!(whole_numbers(&mut value));
        assert_eq!(
            value,
            serde_json::json!({
                "bonus": 75152, "balance": 1500, "rate": 0.5, "big": 1e57, "past_exact": 12345678901234567.0,
                "list": [2, 3], "text": "4.0"
            })
        );
        assert!(value["bonus"].is_i64());
        assert!(!whole_numbers(
            &mut serde_json::json!({"rate": 0.5, "n": 1})
        ));
    }

    #[derive(Debug, serde::Deserialize)]
    struct Values {
        bonus: i64,
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_and_a_repeated_key_refused() {
        let error = read::<Values>(r#"{"bonus": 1.5}"#).unwrap_err();
        assert!(error.to_string().contains("bonus: invalid type"), "{error}");
        assert_eq!(read::<Values>(r#"{"bonus": 7.0}"#).unwrap().bonus, 7);
        let error = read::<Values>(r#"{"bonus": 1, "bonus": 2}"#).unwrap_err();
        assert!(error.to_string().contains("duplicate field"), "{error}");
        // Not taken as the last one when whole numbers are read again either.
        assert!(read::<Values>(r#"{"bonus": 1.0, "bonus": 2.0}"#).is_err());
    }
}
