//! Reading JSON response bodies: every machine's responses go through [`json_object`]
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::http::HttpResponse;

/// Parses JSON text
pub(crate) fn parse_json(bytes: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice(bytes)
}

/// [`parse_json`] for text that must be a JSON object; `None` for anything else
pub(crate) fn parse_json_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match parse_json(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Reads a JSON object body, enforcing the cap even if the host did not
///
/// Errors are [`AuthError::Malformed`]: a response arrived but could not be read.
pub(crate) fn json_object(
    response: &HttpResponse,
    max_bytes: usize,
) -> Result<Map<String, Value>, AuthError> {
    if response.body.len() > max_bytes {
        return Err(AuthError::Malformed {
            status: response.status,
            reason: format!("the body is larger than {max_bytes} bytes"),
        });
    }
    match parse_json(&response.body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::Malformed {
            status: response.status,
            reason: "the body is JSON but not an object".into(),
        }),
        Err(_) => Err(AuthError::Malformed {
            status: response.status,
            reason: "the body is not JSON".into(),
        }),
    }
}
