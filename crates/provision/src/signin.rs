//! Proving a provisioned key works: a passkey sign-in against Keysmith's
//! end-user sign-in API (`/{tenant}/passkey/signin/begin|finish`), with
//! the key answering getAssertion as a browser's platform would ask it.

use crate::error::{Error, Result};
use crate::pin::Pin;
use ctap::{Ctap2Client, StatusCode};
use serde_json::Value;
use webauthn::signin::{BeginRequest, BeginResponse, FinishResponse};

/// Who signed in, as the server says.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInResult {
    /// The signed-in user (Graph's user resource).
    pub user: Value,
    /// The passkey used (Graph's fido2AuthenticationMethod).
    pub method: Value,
    /// The server's signed token (for scripts that go on to use it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Signs in at `server` (e.g. `http://127.0.0.1:8080`) in `tenant`,
/// username-first when `user` is given, else with a discoverable
/// credential. `origin` defaults to `https://{rpId}`.
pub fn sign_in(
    server: &str,
    tenant: &str,
    user: Option<&str>,
    ctap: &mut Ctap2Client,
    pin: Option<&Pin>,
    origin: Option<&str>,
) -> Result<SignInResult> {
    let server = server.trim_end_matches('/');
    let tenant = crate::target::path_segment(tenant);
    let begin: BeginResponse = post(
        &format!("{server}/{tenant}/passkey/signin/begin"),
        &BeginRequest {
            user_principal_name: user.map(str::to_owned),
        },
        "signInBegin",
    )?;
    let rp_id = begin.public_key.rp_id.clone();
    let assertion = client::answer_request(ctap, &begin.public_key, origin, pin.map(Pin::expose))
        .map_err(|e| match (e.status(), e.cause) {
        (Some(StatusCode::NoCredentials), _) => Error::Input(format!(
            "this key holds no passkey for {}",
            user.unwrap_or(&rp_id)
        )),
        (_, Some(cause)) => Error::Key(cause),
        (_, None) => Error::Key(ctap::Error::Protocol(e.message)),
    })?;
    let finish: FinishResponse = post(
        &format!("{server}/{tenant}/passkey/signin/finish"),
        &assertion.finish_request(&begin.flow_id),
        "signInFinish",
    )?;
    Ok(SignInResult {
        user: finish.user,
        method: serde_json::to_value(&finish.method).unwrap_or_default(),
        token: Some(finish.token),
    })
}

fn transport(operation: &'static str, message: &str) -> Error {
    Error::DirectoryTransport {
        operation,
        message: message.to_owned(),
    }
}

fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    url: &str,
    body: &B,
    operation: &'static str,
) -> Result<T> {
    match ureq::post(url).send_json(body) {
        Ok(r) => r
            .into_json()
            .map_err(|e| transport(operation, &e.to_string())),
        Err(ureq::Error::Status(status, r)) => {
            let v: Value = r.into_json().unwrap_or(Value::Null);
            Err(Error::Directory {
                operation,
                status,
                code: v["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
                message: v["error"]["message"].as_str().unwrap_or("").to_owned(),
            })
        }
        Err(e) => Err(transport(operation, &e.to_string())),
    }
}
