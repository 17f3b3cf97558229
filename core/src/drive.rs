//! The one loop every synchronous host runs
//!
//! Hosts implement [`Io`] (native: reqwest and the keyring; the component: the WIT imports; tests:
//! a script) and call [`drive`]. The JavaScript driver is this loop written with `await`.
use std::collections::VecDeque;

use crate::error::{AuthError, StoreError};
use crate::http::{HttpRequest, HttpResponse, TransportError};
use crate::machine::{CallbackVerdict, Input, Machine, Output, Prompt, StoreOp};
use crate::secret::Secret;

/// What a host supplies; it mirrors the WIT imports one to one
pub trait Io {
    /// The current unix time in milliseconds
    fn now_ms(&mut self) -> u64;
    /// Performs the request: no redirects, body capped at `request.max_response_bytes`
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError>;
    /// Performs a store operation; see [`Input::Stored`] for what to answer
    fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError>;
    /// Shows the device-login prompt
    fn show(&mut self, prompt: &Prompt);
    /// Opens a URL in the user's browser; `false` when none could be opened
    fn open_browser(&mut self, url: &str) -> bool;
    /// Blocks until `until_ms`, or returns earlier with the request target of a loopback callback
    /// when the host is listening for one (browser login)
    ///
    /// The host keeps that request open, unanswered, until [`Io::answer_callback`]; requests that
    /// arrive meanwhile wait for the next call.
    fn wait_until(&mut self, until_ms: u64) -> Option<String>;
    /// Answers the request whose target the last `wait_until` returned, as the machine decided,
    /// and closes it; [`drive`] calls it once for every target `wait_until` returns
    fn answer_callback(&mut self, verdict: CallbackVerdict);
}

/// Runs a machine to completion against a host
///
/// Follows the drain rule: after each input, outputs are polled until `Wait` or `Done`; requests
/// and store operations met on the way are performed and their answers fed back in order.
/// A callback the machine did not answer (one a machine takes no callbacks, or one after it was
/// done) is answered `Rejected`, so the host never holds a request open for nobody.
pub fn drive<M: Machine>(mut machine: M, io: &mut impl Io) -> Result<M::Value, AuthError> {
    let mut next = VecDeque::from([Input::Start]);
    loop {
        let input = next
            .pop_front()
            .expect("the loop always queues an input before coming back");
        let mut unanswered = matches!(input, Input::Callback(_));
        machine.handle_input(io.now_ms(), input);
        let wait = loop {
            match machine.poll_output() {
                Output::Send(request) => next.push_back(match io.send(&request) {
                    Ok(response) => Input::Response(response),
                    Err(error) => Input::TransportFailed(error),
                }),
                Output::Store(op) => next.push_back(Input::Stored(io.store(&op))),
                Output::Show(prompt) => io.show(&prompt),
                Output::OpenBrowser(url) => {
                    // A host that cannot open a browser has already shown the URL; the machine's
                    // deadline still bounds the wait.
                    let _opened = io.open_browser(&url);
                }
                Output::AnswerCallback(verdict) => {
                    // One answer per request: a machine answers only the callback just fed.
                    if std::mem::take(&mut unanswered) {
                        io.answer_callback(verdict);
                    }
                }
                Output::Wait { until_ms } => break Ok(until_ms),
                Output::Done(result) => break Err(result),
            }
        };
        if unanswered {
            io.answer_callback(CallbackVerdict::Rejected);
        }
        let wait = match wait {
            Ok(wait) => wait,
            Err(result) => return result,
        };
        if next.is_empty() {
            match wait {
                Some(until_ms) => next.push_back(match io.wait_until(until_ms) {
                    Some(target) => Input::Callback(target),
                    None => Input::Timer,
                }),
                // A machine waiting for an answer nobody owes it would hang a host forever.
                None => {
                    return Err(AuthError::Config {
                        detail: "internal: the flow waits for an answer to a request it never made (a keyhole bug; please report it)".into(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::{BrowserLogin, BrowserLoginConfig, RANDOM_BYTES, VERIFIER_BYTES};
    use crate::oauth::{Client, Endpoints};
    use base64::Engine as _;

    /// A host whose loopback listener sees `callbacks` in order, and whose token endpoint
    /// answers with tokens; it records what it answered and what it sent
    struct Scripted {
        now: u64,
        callbacks: VecDeque<String>,
        answers: Vec<(String, CallbackVerdict)>,
        last_target: Option<String>,
        sent: Vec<String>,
    }

    impl Io for Scripted {
        fn now_ms(&mut self) -> u64 {
            self.now += 10;
            self.now
        }
        fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
            if let crate::http::Body::Form(fields) = &request.body {
                let code = fields.iter().find(|(k, _)| k == "code");
                self.sent
                    .push(code.map(|(_, v)| v.expose().to_owned()).unwrap_or_default());
            }
            Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#.to_vec(),
            })
        }
        fn store(&mut self, _op: &StoreOp) -> Result<Option<Secret>, StoreError> {
            Ok(None)
        }
        fn show(&mut self, _prompt: &Prompt) {}
        fn open_browser(&mut self, _url: &str) -> bool {
            true
        }
        fn wait_until(&mut self, until_ms: u64) -> Option<String> {
            assert!(self.last_target.is_none(), "a callback was left unanswered");
            let target = self.callbacks.pop_front();
            if target.is_none() {
                self.now = self.now.max(until_ms);
            }
            self.last_target = target.clone();
            target
        }
        fn answer_callback(&mut self, verdict: CallbackVerdict) {
            let target = self.last_target.take().expect("an answer for a callback");
            self.answers.push((target, verdict));
        }
    }

    fn scripted(callbacks: &[&str]) -> Scripted {
        Scripted {
            now: 1_000,
            callbacks: callbacks.iter().map(|t| t.to_string()).collect(),
            answers: Vec::new(),
            last_target: None,
            sent: Vec::new(),
        }
    }

    fn browser_login() -> (BrowserLogin, String) {
        let random = [7u8; RANDOM_BYTES];
        let state = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(&random[VERIFIER_BYTES..RANDOM_BYTES]);
        let config = BrowserLoginConfig {
            endpoints: Endpoints {
                authorization_endpoint: Some("https://i.example/authorize".into()),
                token_endpoint: Some("https://i.example/token".into()),
                ..Endpoints::default()
            },
            client: Client {
                client_id: "cli".into(),
                ..Client::default()
            },
            redirect_port: 8765,
            timeout_s: 60,
        };
        (BrowserLogin::new(config, 1_000, &random), state)
    }

    #[test]
    fn a_wrong_callback_is_rejected_and_the_login_waits_for_the_real_one() {
        let (login, state) = browser_login();
        let real = format!("/callback?code=real-code&state={state}");
        let mut io = scripted(&[
            "/favicon.ico",
            "/callback?code=forged-code&state=wrong",
            "/callback?code=forged-code",
            &real,
        ]);
        let tokens = drive(login, &mut io).expect("the real callback logs in");
        assert_eq!(tokens.access_token.expose(), "at");
        use CallbackVerdict::{Accepted, Rejected};
        let verdicts: Vec<_> = io.answers.iter().map(|(_, v)| *v).collect();
        assert_eq!(verdicts, [Rejected, Rejected, Rejected, Accepted]);
        assert_eq!(io.answers[3].0, real);
        // Only the real code was exchanged.
        assert_eq!(io.sent, ["real-code"]);
    }

    #[test]
    fn a_provider_error_with_the_right_state_is_answered_failed_and_ends_the_login() {
        let (login, state) = browser_login();
        let denied = format!("/callback?error=access_denied&state={state}");
        let mut io = scripted(&["/callback?state=wrong", &denied]);
        assert_eq!(drive(login, &mut io), Err(AuthError::Denied));
        let verdicts: Vec<_> = io.answers.iter().map(|(_, v)| *v).collect();
        assert_eq!(
            verdicts,
            [CallbackVerdict::Rejected, CallbackVerdict::Failed]
        );
        assert!(io.sent.is_empty());
    }

    #[test]
    fn only_wrong_callbacks_until_the_deadline_is_a_state_mismatch() {
        let (login, _) = browser_login();
        let mut io = scripted(&["/callback?code=x&state=wrong"]);
        assert_eq!(drive(login, &mut io), Err(AuthError::StateMismatch));
        assert_eq!(io.answers.len(), 1);
    }

    #[test]
    fn a_callback_the_machine_does_not_take_is_answered_rejected_by_drive() {
        // Device login waits with deadlines too; a host with a listener may return a request then.
        let config = crate::device::DeviceLoginConfig {
            endpoints: Endpoints {
                device_authorization_endpoint: Some("https://i.example/device".into()),
                token_endpoint: Some("https://i.example/token".into()),
                ..Endpoints::default()
            },
            client: Client {
                client_id: "cli".into(),
                ..Client::default()
            },
            max_slow_downs: 1,
        };
        struct Device(Scripted, u32);
        impl Io for Device {
            fn now_ms(&mut self) -> u64 {
                self.0.now_ms()
            }
            fn send(&mut self, _request: &HttpRequest) -> Result<HttpResponse, TransportError> {
                self.1 += 1;
                let body: &[u8] = if self.1 == 1 {
                    br#"{"device_code":"dc","user_code":"UC","verification_uri":"https://i.example/v","expires_in":600,"interval":5}"#
                } else {
                    br#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#
                };
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: body.to_vec(),
                })
            }
            fn store(&mut self, op: &StoreOp) -> Result<Option<Secret>, StoreError> {
                self.0.store(op)
            }
            fn show(&mut self, _prompt: &Prompt) {}
            fn open_browser(&mut self, _url: &str) -> bool {
                false
            }
            fn wait_until(&mut self, until_ms: u64) -> Option<String> {
                let target = self.0.wait_until(until_ms);
                // Not a real wait: the next poll is due now.
                self.0.now = self.0.now.max(until_ms);
                target
            }
            fn answer_callback(&mut self, verdict: CallbackVerdict) {
                self.0.answer_callback(verdict)
            }
        }
        let mut io = Device(scripted(&["/callback?code=c&state=s"]), 0);
        let machine = crate::device::DeviceLogin::new(config, 1_000);
        drive(machine, &mut io).expect("the device login still succeeds");
        assert_eq!(
            io.0.answers,
            [(
                "/callback?code=c&state=s".to_owned(),
                CallbackVerdict::Rejected
            )]
        );
    }
}
