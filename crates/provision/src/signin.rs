//! Proving a provisioned key works: a passkey sign-in against Keysmith's
//! end-user sign-in API (`/{tenant}/passkey/signin/begin|finish`), with
//! the key answering getAssertion as a browser's platform would ask it.

use crate::error::{Error, Result};
use crate::pin::Pin;
use ctap::{Ctap2Client, StatusCode};
use serde_json::{json, Value};
use webauthn::b64;

/// Who signed in, as the server says.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInResult {
    pub user: Value,
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
    let begin_body = match user {
        Some(u) => json!({ "userPrincipalName": u }),
        None => json!({}),
    };
    let begin = post(
        &format!("{server}/{tenant}/passkey/signin/begin"),
        &begin_body,
        "signInBegin",
    )?;
    let pk = &begin["publicKey"];
    let rp_id = pk["rpId"]
        .as_str()
        .ok_or_else(|| transport("signInBegin", "no rpId"))?;
    let challenge = pk["challenge"]
        .as_str()
        .ok_or_else(|| transport("signInBegin", "no challenge"))?;
    let allow: Vec<Vec<u8>> = pk["allowCredentials"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["id"].as_str())
                .filter_map(|id| b64::decode_lenient(id).ok())
                .collect()
        })
        .unwrap_or_default();
    let assertion = client::get_assertion(
        ctap,
        &client::AssertionParams {
            rp_id,
            challenge,
            allow,
            origin,
            pin: pin.map(Pin::expose),
        },
    )
    .map_err(|e| match (e.status(), e.cause) {
        (Some(StatusCode::NoCredentials), _) => Error::Input(format!(
            "this key holds no passkey for {}",
            user.unwrap_or(rp_id)
        )),
        (_, Some(cause)) => Error::Key(cause),
        (_, None) => Error::Key(ctap::Error::Protocol(e.message)),
    })?;
    let finish = post(
        &format!("{server}/{tenant}/passkey/signin/finish"),
        &json!({
            "flowId": begin["flowId"],
            "credential": {
                "id": b64::encode(&assertion.credential_id),
                "response": {
                    "clientDataJSON": b64::encode(&assertion.client_data_json),
                    "authenticatorData": b64::encode(&assertion.authenticator_data),
                    "signature": b64::encode(&assertion.signature),
                    "userHandle": assertion.user_handle.as_ref().map(b64::encode),
                }
            }
        }),
        "signInFinish",
    )?;
    Ok(SignInResult {
        user: finish["user"].clone(),
        method: finish["method"].clone(),
        token: finish["token"].as_str().map(str::to_owned),
    })
}

fn transport(operation: &'static str, message: &str) -> Error {
    Error::DirectoryTransport {
        operation,
        message: message.to_owned(),
    }
}

fn post(url: &str, body: &Value, operation: &'static str) -> Result<Value> {
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
