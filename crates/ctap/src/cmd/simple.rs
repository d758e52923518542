//! Commands without parameters: reset (§6.6), getNextAssertion (§6.3),
//! selection (§6.9).

use super::get_assertion::GetAssertionResponse;
use super::{CommandCode, CtapRequest};
use webauthn::cbor::{CborError, Value};

macro_rules! no_params {
    ($(#[$doc:meta])* $name:ident, $code:expr, $resp:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name;

        impl CtapRequest for $name {
            const COMMAND: CommandCode = $code;
            type Response = $resp;
            fn to_cbor(&self) -> Option<Value> {
                None
            }
            fn from_cbor(_: Option<Value>) -> Result<Self, CborError> {
                Ok(Self)
            }
        }
    };
}

no_params!(
    /// authenticatorReset: wipes credentials, PIN and configuration.
    ResetRequest,
    CommandCode::Reset,
    ()
);
no_params!(
    /// authenticatorGetNextAssertion: the next credential of a getAssertion.
    GetNextAssertionRequest,
    CommandCode::GetNextAssertion,
    GetAssertionResponse
);
no_params!(
    /// authenticatorSelection: waits for a touch so the user can pick a key.
    SelectionRequest,
    CommandCode::Selection,
    ()
);
