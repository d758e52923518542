//! Arbitrary authenticator data into the parser: no panic, and whatever
//! parses re-encodes to bytes that parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webauthn::AuthenticatorData;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = AuthenticatorData::parse(data) {
        let again = AuthenticatorData::parse(&parsed.to_bytes()).expect("re-encoding parses");
        assert_eq!(again.sign_count, parsed.sign_count);
        assert_eq!(again.attested, parsed.attested);
    }
});
