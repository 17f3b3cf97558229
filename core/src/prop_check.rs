//! Test-only: the contract every machine keeps under any sequence of inputs
//!
//! No panic, a drain always ends in `Wait` or `Done` within a bound, every `Wait` deadline lies
//! after the latest time seen, and once `Done` is reached every later drain is that same `Done`
//! and nothing else.

use std::fmt::Debug;

use proptest::prelude::*;

use crate::error::StoreError;
use crate::http::{HttpResponse, TransportError};
use crate::machine::{Input, Machine, Output};
use crate::secret::Secret;

/// The construction time of every machine under test
pub(crate) const NOW: u64 = 1_700_000_000_000;

fn record(access: &str, refresh: &str, expires_at_ms: u64) -> String {
    format!(
        r#"{{"version":1,"oauth":{{"access_token":"{access}","refresh_token":"{refresh}","expires_at_ms":{expires_at_ms}}},"updated_at_ms":1}}"#
    )
}

fn any_response() -> impl Strategy<Value = HttpResponse> {
    let status = prop::sample::select(vec![
        200u16, 201, 204, 302, 400, 401, 403, 404, 418, 429, 500, 503,
    ]);
    let body = prop::sample::select(vec![
        r#"{"access_token":"at_p","expires_in":3600,"refresh_token":"rt_p"}"#.to_owned(),
        r#"{"access_token":"at_p","expires_in":-1}"#.to_owned(),
        r#"{"access_token":"at_p","expires_in":1e300,"refresh_in":"x"}"#.to_owned(),
        r#"{"access_token":7}"#.to_owned(),
        r#"{"error":"invalid_grant"}"#.to_owned(),
        r#"{"error":"invalid_client","error_description":"no"}"#.to_owned(),
        r#"{"email":"p@example.com","id":5}"#.to_owned(),
        "[1,2]".to_owned(),
        "not json".to_owned(),
        String::new(),
    ]);
    let retry_after = prop::option::of(prop::sample::select(vec![
        "0",
        "2",
        "59",
        "61",
        "99999999999999999999",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "garbage",
    ]));
    (status, body, retry_after).prop_map(|(status, body, retry_after)| HttpResponse {
        status,
        headers: retry_after
            .map(|v| vec![("retry-after".to_owned(), v.to_owned())])
            .unwrap_or_default(),
        body: body.into_bytes(),
    })
}

fn any_stored() -> impl Strategy<Value = Result<Option<Secret>, StoreError>> {
    prop::sample::select(vec![
        Ok(None),
        Ok(Some(record("at_s", "rt_s", NOW - 1000))),
        Ok(Some(record("at_f", "rt_f", NOW + 3_600_000))),
        Ok(Some(record("at_o", "rt_o", NOW - 5))),
        Ok(Some(
            r#"{"version":1,"api_key":"k_s","updated_at_ms":0}"#.to_owned(),
        )),
        Ok(Some(r#"{"version":7}"#.to_owned())),
        Ok(Some("{truncated".to_owned())),
        Err(StoreError::Unavailable("locked".into())),
        Err(StoreError::Denied("no".into())),
    ])
    .prop_map(|answer| answer.map(|value| value.map(Secret::new)))
}

/// Any input a host could send, spurious ones included
pub(crate) fn any_input() -> impl Strategy<Value = Input> {
    prop_oneof![
        Just(Input::Start),
        Just(Input::Timer),
        any_response().prop_map(Input::Response),
        prop::sample::select(vec![
            TransportError::Dns,
            TransportError::Timeout,
            TransportError::TooLarge,
        ])
        .prop_map(Input::TransportFailed),
        any_stored().prop_map(Input::Stored),
        Just(Input::Callback("/callback?code=x&state=y".into())),
    ]
}

/// Inputs at times around [`NOW`], sometimes going backwards, mostly starting with `Start`
pub(crate) fn any_steps() -> impl Strategy<Value = Vec<(u64, Input)>> {
    let step = (0u64..120_000, any_input()).prop_map(|(dt, input)| (NOW - 10_000 + dt, input));
    (any::<bool>(), prop::collection::vec(step, 0..40)).prop_map(|(start, mut steps)| {
        if start {
            steps.insert(0, (NOW, Input::Start));
        }
        steps
    })
}

/// Feeds `steps` to `machine`, checking the contract after each one
pub(crate) fn check_contract<M>(
    mut machine: M,
    steps: Vec<(u64, Input)>,
) -> Result<(), TestCaseError>
where
    M: Machine + Debug,
    M::Value: Debug + PartialEq,
{
    let mut latest = NOW;
    let mut done: Option<Output<M::Value>> = None;
    for (now_ms, input) in steps {
        latest = latest.max(now_ms);
        machine.handle_input(now_ms, input);
        let mut ended = false;
        for _ in 0..64 {
            let output = machine.poll_output();
            if let Some(previous) = &done {
                prop_assert_eq!(&output, previous, "an output after Done");
                ended = true;
                break;
            }
            match output {
                Output::Wait { until_ms } => {
                    if let Some(until_ms) = until_ms {
                        prop_assert!(until_ms > latest, "a Wait not in the future");
                    }
                    ended = true;
                    break;
                }
                Output::Done(_) => {
                    done = Some(output);
                    ended = true;
                    break;
                }
                _ => {}
            }
        }
        prop_assert!(ended, "a drain without Wait or Done");
    }
    Ok(())
}
