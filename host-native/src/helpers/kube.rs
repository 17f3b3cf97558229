//! kubectl's exec credential plugin protocol (`client.authentication.k8s.io`): kubectl runs the
//! plugin with `KUBERNETES_EXEC_INFO` holding an `ExecCredential` request whose `apiVersion` is
//! the one the kubeconfig asked for, and reads an `ExecCredential` with `status.token` and
//! `status.expirationTimestamp` (RFC 3339; kubectl caches the token until then) from stdout.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{HelperError, TokenSource, printable};

/// The API versions this plugin speaks, newest first
pub const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The API version to answer in: the one `KUBERNETES_EXEC_INFO` names (v1 when it is unset, as
/// with kubectl before 1.20 or a manual run); an unknown version is an error
pub fn api_version(exec_info: Option<&str>) -> Result<&'static str, HelperError> {
    let Some(info) = exec_info.filter(|i| !i.trim().is_empty()) else {
        return Ok(API_VERSIONS[0]);
    };
    let info: Value = serde_json::from_str(info)
        .map_err(|e| HelperError::BadRequest(format!("KUBERNETES_EXEC_INFO is not JSON ({e})")))?;
    let asked = info
        .get("apiVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| HelperError::BadRequest("KUBERNETES_EXEC_INFO has no apiVersion".into()))?;
    API_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .copied()
        .ok_or_else(|| {
            HelperError::BadRequest(format!(
                "kubectl asked for ExecCredential version `{}`; this plugin speaks {} \
                 (set `apiVersion` of the kubeconfig's exec entry to one of them)",
                printable(asked),
                API_VERSIONS.join(" and ")
            ))
        })
}

/// The `ExecCredential` answer, one line of JSON and a newline
pub fn exec_credential(
    exec_info: Option<&str>,
    source: &mut dyn TokenSource,
) -> Result<String, HelperError> {
    let version = api_version(exec_info)?;
    let credential = source.credential()?;
    let mut status = json!({ "token": credential.secret.expose() });
    if let Some(ms) = credential.expires_at_ms {
        status["expirationTimestamp"] = json!(rfc3339(ms));
    }
    let answer = json!({
        "apiVersion": version,
        "kind": "ExecCredential",
        "status": status,
    });
    Ok(format!("{answer}\n"))
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use keyhole_core::Secret;

    use super::super::Credential;
    use super::*;

    fn source(expires_at_ms: Option<u64>) -> impl FnMut() -> Result<Credential, HelperError> {
        move || {
            Ok(Credential {
                secret: Secret::new("tok"),
                expires_at_ms,
                oauth: true,
            })
        }
    }

    #[test]
    fn mirrors_the_requested_version() {
        let info = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#;
        let out = exec_credential(Some(info), &mut source(Some(1_700_000_000_500))).unwrap();
        assert_eq!(
            out,
            "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\
             \"status\":{\"expirationTimestamp\":\"2023-11-14T22:13:20Z\",\"token\":\"tok\"}}\n"
        );
        let v1 = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}"#;
        assert!(exec_credential(Some(v1), &mut source(None)).unwrap().starts_with(
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok\"}}"
        ));
        assert_eq!(api_version(None).unwrap(), API_VERSIONS[0]);
    }

    #[test]
    fn unknown_versions_are_refused_before_any_token_is_fetched() {
        let mut asked = false;
        let mut src = || {
            asked = true;
            Err(HelperError::Failed("unreachable".into()))
        };
        let err = exec_credential(
            Some(r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1"}"#),
            &mut src,
        )
        .unwrap_err();
        assert!(err.to_string().contains("v1alpha1"), "{err}");
        assert!(!asked);
        assert!(api_version(Some("nope")).is_err());
        assert!(api_version(Some("{}")).is_err());
    }
}
