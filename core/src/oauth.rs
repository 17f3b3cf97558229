//! What every OAuth flow shares: endpoints, the client, token sets and token-endpoint replies
//!
//! Pure functions only; the machines compose them.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::body::json_object;
use crate::error::AuthError;
use crate::http::{HttpResponse, Param};
use crate::machine::WireValue;
use crate::secret::Secret;

/// The token type and API-key scheme when none is given
/// ([RFC 6750](https://www.rfc-editor.org/rfc/rfc6750))
pub const BEARER: &str = "Bearer";

/// `expires_in` is clamped to this many seconds (one year): larger values are treated as a year
pub const MAX_EXPIRES_IN_S: u64 = 365 * 24 * 3600;
/// `expires_in` below one second is treated as one second
pub const MIN_EXPIRES_IN_S: u64 = 1;

/// The provider's endpoints, from discovery or configured explicitly
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The issuer identifier, when known
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Browser login ([RFC 6749 §3.1](https://www.rfc-editor.org/rfc/rfc6749#section-3.1))
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// Token exchange and refresh ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2))
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// Device authorization ([RFC 8628 §3.1](https://www.rfc-editor.org/rfc/rfc8628#section-3.1))
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// Token revocation ([RFC 7009 §2](https://www.rfc-editor.org/rfc/rfc7009#section-2))
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// OpenID Connect UserInfo
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// Token introspection ([RFC 7662](https://www.rfc-editor.org/rfc/rfc7662))
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// The provider puts `iss` in every authorization response
    /// ([RFC 9207 §3](https://www.rfc-editor.org/rfc/rfc9207#section-3)), so a browser-login
    /// callback without it is rejected
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
}

impl Endpoints {
    /// These endpoints, each missing one taken from `fallback`, field by field
    ///
    /// Discovery merges the OpenID document over the RFC 8414 one this way, and a remote's
    /// explicit endpoints over discovered ones. `iss` support holds when either side claims it:
    /// a provider that sends `iss` anywhere must send it everywhere (RFC 9207 §2.4).
    #[must_use]
    pub fn or(self, fallback: Endpoints) -> Endpoints {
        Endpoints {
            issuer: self.issuer.or(fallback.issuer),
            authorization_endpoint: self
                .authorization_endpoint
                .or(fallback.authorization_endpoint),
            token_endpoint: self.token_endpoint.or(fallback.token_endpoint),
            device_authorization_endpoint: self
                .device_authorization_endpoint
                .or(fallback.device_authorization_endpoint),
            revocation_endpoint: self.revocation_endpoint.or(fallback.revocation_endpoint),
            userinfo_endpoint: self.userinfo_endpoint.or(fallback.userinfo_endpoint),
            introspection_endpoint: self
                .introspection_endpoint
                .or(fallback.introspection_endpoint),
            authorization_response_iss_parameter_supported: self
                .authorization_response_iss_parameter_supported
                || fallback.authorization_response_iss_parameter_supported,
        }
    }

    /// The named endpoint, checked to be https or loopback, or a config error naming it
    pub fn require(&self, name: &str) -> Result<url::Url, AuthError> {
        let value = match name {
            "authorization_endpoint" => &self.authorization_endpoint,
            "token_endpoint" => &self.token_endpoint,
            "device_authorization_endpoint" => &self.device_authorization_endpoint,
            "revocation_endpoint" => &self.revocation_endpoint,
            "userinfo_endpoint" => &self.userinfo_endpoint,
            "introspection_endpoint" => &self.introspection_endpoint,
            _ => &None,
        };
        match value {
            Some(raw) => crate::endpoint::check_endpoint(raw),
            None => Err(AuthError::Config {
                detail: format!(
                    "the provider has no {name}; configure it on the remote or use another login method"
                ),
            }),
        }
    }
}

/// The OAuth client: its id, optional secret (sent as `client_secret_post`) and scopes
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Client {
    /// The registered client id
    pub client_id: String,
    /// A confidential client's secret; CLIs are normally public clients without one
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Scopes to request
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Client {
    /// `client_id` (and `client_secret`) form fields ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1))
    pub(crate) fn auth_params(&self) -> Vec<(String, Param)> {
        let mut params = vec![("client_id".to_owned(), Param::from(self.client_id.as_str()))];
        if let Some(secret) = &self.client_secret {
            params.push(("client_secret".to_owned(), Param::Secret(secret.clone())));
        }
        params
    }

    /// The scopes as one space-separated string, if any
    pub(crate) fn scope_param(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// Tokens from a token endpoint, with absolute times computed from the `now` they arrived at
///
/// Deserialises from the same JSON its [`WireValue`] form produces (a refresh config carries one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenSet {
    /// The bearer credential
    pub access_token: Secret,
    /// Usually `Bearer`
    #[serde(default = "bearer")]
    pub token_type: String,
    /// Present when the provider allows refreshing
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    /// OpenID Connect ID token
    #[serde(default)]
    pub id_token: Option<Secret>,
    /// Granted scopes, when the provider says
    #[serde(default)]
    pub scope: Option<String>,
    /// When the access token expires (unix ms), when the provider says
    #[serde(default)]
    pub expires_at_ms: Option<u64>,
    /// When the provider suggests refreshing (unix ms), from a `refresh_in` hint
    #[serde(default)]
    pub refresh_at_ms: Option<u64>,
    /// When the tokens were issued (unix ms): the `now` their response arrived at. With
    /// `expires_at_ms` it gives the token's lifetime, which caps the refresh margin; records
    /// written before it existed have none.
    #[serde(default)]
    pub issued_at_ms: Option<u64>,
}

pub(crate) fn bearer() -> String {
    "Bearer".to_owned()
}

impl WireValue for TokenSet {
    fn to_wire(&self) -> Value {
        serde_json::json!({
            "access_token": self.access_token.expose(),
            "token_type": self.token_type,
            "refresh_token": self.refresh_token.as_ref().map(Secret::expose),
            "id_token": self.id_token.as_ref().map(Secret::expose),
            "scope": self.scope,
            "expires_at_ms": self.expires_at_ms,
            "refresh_at_ms": self.refresh_at_ms,
            "issued_at_ms": self.issued_at_ms,
        })
    }
}

impl WireValue for Endpoints {
    fn to_wire(&self) -> Value {
        // As the serde form: absent endpoints are left out.
        let mut out = Map::new();
        for (name, value) in [
            ("issuer", &self.issuer),
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            (
                "device_authorization_endpoint",
                &self.device_authorization_endpoint,
            ),
            ("revocation_endpoint", &self.revocation_endpoint),
            ("userinfo_endpoint", &self.userinfo_endpoint),
            ("introspection_endpoint", &self.introspection_endpoint),
        ] {
            if let Some(url) = value {
                out.insert(name.into(), Value::String(url.clone()));
            }
        }
        if self.authorization_response_iss_parameter_supported {
            out.insert(
                "authorization_response_iss_parameter_supported".into(),
                Value::Bool(true),
            );
        }
        Value::Object(out)
    }
}

impl TokenSet {
    /// Whether the access token is still usable at `now_ms` (unknown expiry counts as usable)
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// An OAuth error body ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2))
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthRefusal {
    pub(crate) error: String,
    pub(crate) description: Option<String>,
}

impl OAuthRefusal {
    /// The refusal as a generic provider error
    pub(crate) fn into_error(self) -> AuthError {
        AuthError::Provider {
            code: self.error,
            description: self.description,
        }
    }
}

/// What a token endpoint said, once transport and server errors are out of the way
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenReply {
    Tokens(TokenSet),
    Refused(OAuthRefusal),
}

/// Reads a token-endpoint response ([RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1), §5.2)
///
/// 2xx with a valid body gives tokens, 4xx with an `error` gives a refusal, 429 gives
/// `RateLimited`, 5xx gives `Unavailable`; anything else is `Malformed` or `Protocol`.
pub(crate) fn read_token_response(
    response: &HttpResponse,
    now_ms: u64,
    max_bytes: usize,
) -> Result<TokenReply, AuthError> {
    match read_oauth_json(response, now_ms, max_bytes)? {
        Ok(body) => token_set_from(&body, now_ms).map(TokenReply::Tokens),
        Err(refusal) => Ok(TokenReply::Refused(refusal)),
    }
}

/// Reads a JSON answer from an OAuth endpoint: the body on 2xx, the refusal on a 4xx OAuth error
/// ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2))
///
/// 429 gives `RateLimited` and 5xx `Unavailable`; a body that is not a JSON object, or another
/// status, is `Malformed`.
pub(crate) fn read_oauth_json(
    response: &HttpResponse,
    now_ms: u64,
    max_bytes: usize,
) -> Result<Result<Map<String, Value>, OAuthRefusal>, AuthError> {
    if let Some(error) = server_trouble(response, now_ms) {
        return Err(error);
    }
    let body = json_object(response, max_bytes)?;
    if response.is_success() {
        return Ok(Ok(body));
    }
    refusal_or_malformed(response, &body).map(Err)
}

/// The OAuth refusal in a 4xx body, or `Malformed` when the status or body is not one
pub(crate) fn refusal_or_malformed(
    response: &HttpResponse,
    body: &Map<String, Value>,
) -> Result<OAuthRefusal, AuthError> {
    match read_refusal(body) {
        Some(refusal) if (400..500).contains(&response.status) => Ok(refusal),
        _ => Err(AuthError::Malformed {
            status: response.status,
            reason: "an unexpected status without an OAuth error".into(),
        }),
    }
}

/// 429 and 5xx answers, which every endpoint treats the same way
pub(crate) fn server_trouble(response: &HttpResponse, now_ms: u64) -> Option<AuthError> {
    match response.status {
        429 => Some(AuthError::RateLimited {
            retry_after_s: retry_after_s(response, now_ms),
        }),
        500..=599 => Some(AuthError::Unavailable {
            status: Some(response.status),
        }),
        _ => None,
    }
}

/// The `error` and `error_description` of an OAuth error body, if it has a string `error`
pub(crate) fn read_refusal(body: &Map<String, Value>) -> Option<OAuthRefusal> {
    let error = body.get("error")?.as_str()?.to_owned();
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(OAuthRefusal { error, description })
}

/// Builds a token set from a successful token response body
pub(crate) fn token_set_from(
    body: &Map<String, Value>,
    now_ms: u64,
) -> Result<TokenSet, AuthError> {
    let access_token = required_string(body, "access_token")?;
    let token_type = match body.get("token_type") {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        Some(_) => {
            return Err(AuthError::protocol(
                "token_type",
                "must be a non-empty string",
            ));
        }
    };
    let expires_at_ms = seconds_field(body, "expires_in")?.map(|s| {
        now_ms.saturating_add(
            s.clamp(MIN_EXPIRES_IN_S, MAX_EXPIRES_IN_S)
                .saturating_mul(1000),
        )
    });
    let refresh_at_ms = seconds_field(body, "refresh_in")?
        .map(|s| now_ms.saturating_add(s.min(MAX_EXPIRES_IN_S).saturating_mul(1000)));
    Ok(TokenSet {
        access_token: Secret::new(access_token),
        token_type,
        refresh_token: optional_string(body, "refresh_token")?.map(Secret::new),
        id_token: optional_string(body, "id_token")?.map(Secret::new),
        scope: optional_string(body, "scope")?,
        expires_at_ms,
        refresh_at_ms,
        issued_at_ms: Some(now_ms),
    })
}

/// A required non-empty string field, or a protocol error naming it
pub(crate) fn required_string(body: &Map<String, Value>, field: &str) -> Result<String, AuthError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(AuthError::protocol(field, "is empty")),
        None | Some(Value::Null) => Err(AuthError::protocol(field, "is missing")),
        Some(_) => Err(AuthError::protocol(field, "must be a string")),
    }
}

/// An optional string field (absent or null is `None`)
pub(crate) fn optional_string(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, AuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::protocol(field, "must be a string")),
    }
}

/// A non-negative whole number of seconds; numeric strings are accepted because some providers
/// send them; negative, fractional-looking garbage and other types are protocol errors
pub(crate) fn seconds_field(
    body: &Map<String, Value>,
    field: &str,
) -> Result<Option<u64>, AuthError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        // `3600.0` counts as 3600: some providers send whole seconds as floats.
        // Huge values saturate (`as` from f64 does), and `-0.0` is zero.
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(Some(v)),
            (None, Some(f)) if f >= 0.0 => Ok(Some(f as u64)),
            _ => Err(AuthError::protocol(field, "must not be negative")),
        },
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| AuthError::protocol(field, "must be a whole number of seconds")),
        Some(_) => Err(AuthError::protocol(field, "must be a number of seconds")),
    }
}

/// Seconds to wait from a `Retry-After` header: delta-seconds or an IMF-fixdate
/// ([RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)); capped at a day
pub(crate) fn retry_after_s(response: &HttpResponse, now_ms: u64) -> Option<u64> {
    const MAX_RETRY_AFTER_S: u64 = 24 * 3600;
    let value = response.header("retry-after")?.trim();
    let seconds = match value.parse::<u64>() {
        Ok(s) => s,
        Err(_) => imf_fixdate_ms(value)?.saturating_sub(now_ms).div_ceil(1000),
    };
    Some(seconds.min(MAX_RETRY_AFTER_S))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT` to unix ms
///
/// The year is IMF-fixdate's four digits from 1970 ([RFC 9110 §5.6.7](https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7)):
/// a provider's `99999999999` would otherwise overflow the arithmetic below.
fn imf_fixdate_ms(value: &str) -> Option<u64> {
    const YEARS: std::ops::RangeInclusive<i64> = 1970..=9999;
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT"
        || !YEARS.contains(&year)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || s > 60
    {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm); with the year bounded above, every step
    // stays far inside i64 and the result inside u64 milliseconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp as i64 + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + s)?;
    secs.checked_mul(1000)
}

/// The string claims of a JWT ID token named in `claims`, or `None` if it is not a readable JWT
///
/// For display and account naming only: the signature is not checked, so this never decides
/// access.
pub fn id_token_claims(id_token: &Secret, claims: &[&str]) -> Option<BTreeMap<String, String>> {
    let payload = id_token.expose().split('.').nth(1)?;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let body: Map<String, Value> = crate::body::parse_json_object(&bytes)?;
    let mut found = BTreeMap::new();
    for claim in claims {
        if let Some(value) = body.get(*claim).and_then(Value::as_str) {
            found.insert((*claim).to_owned(), value.to_owned());
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn token_set_clamps_and_validates() {
        let t = token_set_from(
            &body(serde_json::json!({"access_token":"a","expires_in":99999999999u64})),
            1000,
        )
        .unwrap();
        assert_eq!(t.expires_at_ms, Some(1000 + MAX_EXPIRES_IN_S * 1000));
        assert_eq!(t.token_type, "Bearer");
        let t = token_set_from(
            &body(serde_json::json!({"access_token":"a","expires_in":"60"})),
            0,
        )
        .unwrap();
        assert_eq!(t.expires_at_ms, Some(60_000));
        let e = token_set_from(
            &body(serde_json::json!({"access_token":"a","expires_in":-5})),
            0,
        )
        .unwrap_err();
        assert_eq!(e.code(), "protocol");
        // Absurd numbers and clocks saturate instead of overflowing.
        let t = token_set_from(
            &body(serde_json::json!({"access_token":"a","expires_in":1e300,"refresh_in":"18446744073709551615"})),
            u64::MAX - 5,
        )
        .unwrap();
        assert_eq!(t.expires_at_ms, Some(u64::MAX));
        assert_eq!(t.refresh_at_ms, Some(u64::MAX));
        let e = token_set_from(&body(serde_json::json!({"access_token":7})), 0).unwrap_err();
        assert!(matches!(e, AuthError::Protocol { ref field, .. } if field == "access_token"));
    }

    #[test]
    fn retry_after_both_forms() {
        let mut r = HttpResponse::new(429, "");
        r.headers.push(("retry-after".into(), "7".into()));
        assert_eq!(retry_after_s(&r, 0), Some(7));
        r.headers[0].1 = "Sun, 06 Nov 1994 08:49:37 GMT".into();
        assert_eq!(retry_after_s(&r, 784_111_770_000), Some(7));
        r.headers[0].1 = "garbage".into();
        assert_eq!(retry_after_s(&r, 0), None);
    }

    #[test]
    fn retry_after_absurd_dates_do_not_overflow() {
        let mut r = HttpResponse::new(429, "");
        r.headers.push(("retry-after".into(), String::new()));
        let mut at = |value: &str, now_ms: u64| {
            r.headers[0].1 = value.into();
            retry_after_s(&r, now_ms)
        };
        // Issue 16 item 2: this year overflowed the seconds arithmetic (a panic in debug builds).
        assert_eq!(at("Sun, 06 Nov 99999999999 08:49:37 GMT", 0), None);
        assert_eq!(at("Sun, 06 Nov 9223372036854775807 08:49:37 GMT", 0), None);
        assert_eq!(at("Sun, 06 Nov -9223372036854775808 08:49:37 GMT", 0), None);
        // IMF-fixdate's year is four digits: the latest one is capped at a day, not refused.
        assert_eq!(at("Fri, 31 Dec 9999 23:59:59 GMT", 0), Some(24 * 3600));
        assert_eq!(at("Sun, 06 Nov 10000 08:49:37 GMT", 0), None);
        assert_eq!(at("Sun, 06 Nov 1969 08:49:37 GMT", 0), None);
        // A date in the past means "now", whatever `now` is.
        assert_eq!(at("Sun, 06 Nov 1994 08:49:37 GMT", u64::MAX), Some(0));
        // A huge delta-seconds value is capped, as before.
        assert_eq!(at("18446744073709551615", 0), Some(24 * 3600));
        assert_eq!(at("99999999999999999999999", 0), None);
    }

    #[test]
    fn identity_from_unsigned_claims() {
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"u1","email":"a@b.c"}"#,
        );
        let token = Secret::new(format!("x.{payload}.y"));
        let id = id_token_claims(&token, &["email", "name", "sub"]).unwrap();
        assert_eq!(
            id,
            BTreeMap::from([
                ("email".into(), "a@b.c".into()),
                ("sub".into(), "u1".into())
            ])
        );
        assert!(id_token_claims(&Secret::new("nope"), &["sub"]).is_none());
    }
}
