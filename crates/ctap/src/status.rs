//! CTAP status codes (CTAP 2.1 §8.2), declared once with a human message.

macro_rules! status_codes {
    ($( $name:ident = $value:literal, $spec:literal, $message:literal; )*) => {
        /// A CTAP status code as returned in the first byte of a CBOR response.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StatusCode {
            $(
                #[doc = concat!("`", $spec, "` (", stringify!($value), "): ", $message, ".")]
                $name,
            )*
            /// A code this library does not name.
            Unknown(u8),
        }

        impl StatusCode {
            /// The status of a response's first byte (`Unknown` for a code
            /// without a name).
            pub fn from_byte(b: u8) -> Self {
                match b {
                    $( $value => Self::$name, )*
                    other => Self::Unknown(other),
                }
            }

            /// The byte on the wire.
            pub fn to_byte(self) -> u8 {
                match self {
                    $( Self::$name => $value, )*
                    Self::Unknown(b) => b,
                }
            }

            /// The spec's name, e.g. `CTAP2_ERR_PIN_INVALID`.
            pub fn name(self) -> &'static str {
                match self {
                    $( Self::$name => $spec, )*
                    Self::Unknown(_) => "CTAP_UNKNOWN_STATUS",
                }
            }

            /// A sentence an operator can act on.
            pub fn message(self) -> &'static str {
                match self {
                    $( Self::$name => $message, )*
                    Self::Unknown(_) => "the key returned an unknown status code",
                }
            }
        }
    };
}

status_codes! {
    Ok = 0x00, "CTAP2_OK", "success";
    InvalidCommand = 0x01, "CTAP1_ERR_INVALID_COMMAND", "the key does not support this command";
    InvalidParameter = 0x02, "CTAP1_ERR_INVALID_PARAMETER", "the key rejected a parameter of the request";
    InvalidLength = 0x03, "CTAP1_ERR_INVALID_LENGTH", "the request has an invalid length";
    InvalidSeq = 0x04, "CTAP1_ERR_INVALID_SEQ", "the key saw an invalid message sequence";
    Timeout = 0x05, "CTAP1_ERR_TIMEOUT", "the key timed out waiting for the rest of the message";
    ChannelBusy = 0x06, "CTAP1_ERR_CHANNEL_BUSY", "the key is busy with another client; try again";
    LockRequired = 0x0A, "CTAP1_ERR_LOCK_REQUIRED", "the key requires a channel lock";
    InvalidChannel = 0x0B, "CTAP1_ERR_INVALID_CHANNEL", "the command is not allowed on this channel";
    CborUnexpectedType = 0x11, "CTAP2_ERR_CBOR_UNEXPECTED_TYPE", "a request field has the wrong CBOR type";
    InvalidCbor = 0x12, "CTAP2_ERR_INVALID_CBOR", "the request is not valid CBOR";
    MissingParameter = 0x14, "CTAP2_ERR_MISSING_PARAMETER", "a required request field is missing";
    LimitExceeded = 0x15, "CTAP2_ERR_LIMIT_EXCEEDED", "a limit of the key was exceeded";
    FingerprintDatabaseFull = 0x17, "CTAP2_ERR_FP_DATABASE_FULL", "the fingerprint database is full";
    LargeBlobStorageFull = 0x18, "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL", "the large-blob storage is full";
    CredentialExcluded = 0x19, "CTAP2_ERR_CREDENTIAL_EXCLUDED", "the key already holds a credential for this account (it is in the exclude list)";
    Processing = 0x21, "CTAP2_ERR_PROCESSING", "the key is still processing";
    InvalidCredential = 0x22, "CTAP2_ERR_INVALID_CREDENTIAL", "the credential is not valid for this key";
    UserActionPending = 0x23, "CTAP2_ERR_USER_ACTION_PENDING", "the key is waiting for the user";
    OperationPending = 0x24, "CTAP2_ERR_OPERATION_PENDING", "the key is busy with another operation";
    NoOperations = 0x25, "CTAP2_ERR_NO_OPERATIONS", "there is no pending operation";
    UnsupportedAlgorithm = 0x26, "CTAP2_ERR_UNSUPPORTED_ALGORITHM", "the key supports none of the requested algorithms";
    OperationDenied = 0x27, "CTAP2_ERR_OPERATION_DENIED", "the user denied the operation on the key";
    KeyStoreFull = 0x28, "CTAP2_ERR_KEY_STORE_FULL", "the key's storage for discoverable credentials (passkeys) is full";
    UnsupportedOption = 0x2B, "CTAP2_ERR_UNSUPPORTED_OPTION", "the key does not support a requested option";
    InvalidOption = 0x2C, "CTAP2_ERR_INVALID_OPTION", "a requested option is not valid for this command";
    KeepaliveCancel = 0x2D, "CTAP2_ERR_KEEPALIVE_CANCEL", "the operation was cancelled";
    NoCredentials = 0x2E, "CTAP2_ERR_NO_CREDENTIALS", "the key holds no matching credential";
    UserActionTimeout = 0x2F, "CTAP2_ERR_USER_ACTION_TIMEOUT", "the key timed out waiting for a touch";
    NotAllowed = 0x30, "CTAP2_ERR_NOT_ALLOWED", "the key does not allow this now (reset works only within seconds of inserting the key)";
    PinInvalid = 0x31, "CTAP2_ERR_PIN_INVALID", "wrong PIN";
    PinBlocked = 0x32, "CTAP2_ERR_PIN_BLOCKED", "the PIN is blocked after too many wrong attempts; only a reset of the key helps (it deletes all credentials)";
    PinAuthInvalid = 0x33, "CTAP2_ERR_PIN_AUTH_INVALID", "the PIN/UV authentication parameter is invalid";
    PinAuthBlocked = 0x34, "CTAP2_ERR_PIN_AUTH_BLOCKED", "three wrong PINs in a row: remove and re-insert the key, then try again";
    PinNotSet = 0x35, "CTAP2_ERR_PIN_NOT_SET", "the key has no PIN set";
    PuatRequired = 0x36, "CTAP2_ERR_PUAT_REQUIRED", "this operation needs the PIN (a PIN/UV auth token)";
    PinPolicyViolation = 0x37, "CTAP2_ERR_PIN_POLICY_VIOLATION", "the PIN policy forbids this: the PIN is too short or too long, or the key requires a PIN change first";
    RequestTooLarge = 0x39, "CTAP2_ERR_REQUEST_TOO_LARGE", "the request is too large for the key";
    ActionTimeout = 0x3A, "CTAP2_ERR_ACTION_TIMEOUT", "the action timed out";
    UpRequired = 0x3B, "CTAP2_ERR_UP_REQUIRED", "the key requires user presence (a touch)";
    UvBlocked = 0x3C, "CTAP2_ERR_UV_BLOCKED", "built-in user verification is blocked";
    IntegrityFailure = 0x3D, "CTAP2_ERR_INTEGRITY_FAILURE", "the key reports an integrity failure";
    InvalidSubcommand = 0x3E, "CTAP2_ERR_INVALID_SUBCOMMAND", "the key does not support this subcommand";
    UvInvalid = 0x3F, "CTAP2_ERR_UV_INVALID", "built-in user verification failed";
    PinTokenExpired = 0x38, "CTAP2_ERR_PIN_TOKEN_EXPIRED", "the PIN/UV auth token has expired";
    UnauthorizedPermission = 0x40, "CTAP2_ERR_UNAUTHORIZED_PERMISSION", "the PIN/UV auth token lacks the permission for this operation";
    Other = 0x7F, "CTAP1_ERR_OTHER", "the key reported an unspecified error";
}

impl std::fmt::Display for StatusCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (0x{:02X} {})",
            self.message(),
            self.to_byte(),
            self.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(StatusCode::from_byte(b).to_byte(), b);
        }
        assert_eq!(StatusCode::from_byte(0x31), StatusCode::PinInvalid);
        assert_eq!(StatusCode::PinInvalid.name(), "CTAP2_ERR_PIN_INVALID");
        assert_eq!(
            StatusCode::from_byte(0x40),
            StatusCode::UnauthorizedPermission
        );
    }
}
