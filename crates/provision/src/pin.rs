//! Random PINs for keys provisioned on a user's behalf, and the rules that
//! keep them from being trivial.

use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

/// A PIN held in memory that is wiped on drop and never printed by `Debug`
/// (`secrecy`'s `[REDACTED]`).
#[derive(Clone, Debug)]
pub struct Pin(SecretString);

impl Pin {
    /// A PIN of `text` (checked where it is used: the key's minimum length, CTAP's 63 bytes).
    pub fn new(text: impl Into<String>) -> Self {
        Pin(SecretString::from(text.into()))
    }

    /// The PIN itself. Callers must not log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// Which characters a generated PIN uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PinAlphabet {
    /// 0-9: what users can type on any keyboard and what PIN mailers expect.
    #[default]
    Digits,
    /// 0-9 and A-Z without look-alikes (0/O, 1/I).
    Alphanumeric,
}

impl PinAlphabet {
    fn chars(self) -> &'static [u8] {
        match self {
            PinAlphabet::Digits => b"0123456789",
            PinAlphabet::Alphanumeric => b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ",
        }
    }
}

impl std::str::FromStr for PinAlphabet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "digits" | "numeric" => Ok(Self::Digits),
            "alphanumeric" | "alnum" => Ok(Self::Alphanumeric),
            other => Err(format!(
                "unknown PIN alphabet `{other}` (expected digits or alphanumeric)"
            )),
        }
    }
}

/// Shortest and longest PIN we generate. CTAP allows 4..=63 bytes; keys
/// may demand more than 4 (getInfo minPINLength).
pub const MIN_GENERATED_LEN: usize = 4;
/// Longest PIN generated (CTAP's limit, in bytes).
pub const MAX_GENERATED_LEN: usize = 63;

/// Why a PIN is refused as too easy to guess.
pub fn triviality(pin: &str) -> Option<&'static str> {
    let b = pin.as_bytes();
    if b.len() < 2 {
        return None;
    }
    if b.iter().all(|&c| c == b[0]) {
        return Some("all characters are the same");
    }
    let steps: Vec<i16> = b.windows(2).map(|w| w[1] as i16 - w[0] as i16).collect();
    if steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1) {
        return Some("it is a sequence");
    }
    // A short pattern repeated: 121212, 123123, 12341234.
    for period in 2..=b.len() / 2 {
        if b.len().is_multiple_of(period) && b.chunks(period).all(|c| c == &b[..period]) {
            return Some("it repeats a short pattern");
        }
    }
    // Mirror images (123321) and the digit-keypad favourites.
    if b.len() >= 4 && b.iter().eq(b.iter().rev()) {
        return Some("it is a palindrome");
    }
    const COMMON: &[&str] = &[
        "1212", "1004", "2000", "6969", "2580", "0852", "147258", "159753", "123654", "654321",
        "112233", "121314", "696969", "131313", "007007", "102030", "147852", "258456",
    ];
    if COMMON.contains(&pin) {
        return Some("it is one of the most common PINs");
    }
    None
}

/// A uniformly random PIN of `len` characters that passes [`triviality`].
pub fn generate(len: usize, alphabet: PinAlphabet) -> Result<Pin, String> {
    if !(MIN_GENERATED_LEN..=MAX_GENERATED_LEN).contains(&len) {
        return Err(format!(
            "PIN length {len} is outside {MIN_GENERATED_LEN}..={MAX_GENERATED_LEN}"
        ));
    }
    let chars = alphabet.chars();
    let mut rng = rand::rngs::OsRng;
    loop {
        let text: String = (0..len)
            .map(|_| chars[rng.gen_range(0..chars.len())] as char)
            .collect();
        if triviality(&text).is_none() {
            return Ok(Pin::new(text));
        }
    }
}

/// Checks an operator-supplied PIN against the key's minimum and the
/// triviality rules.
pub fn check_given(pin: &str, min_len: usize) -> Result<(), String> {
    let n = pin.chars().count();
    if n < min_len {
        return Err(format!(
            "the PIN has {n} characters; the key requires at least {min_len}"
        ));
    }
    if pin.len() > MAX_GENERATED_LEN {
        return Err(format!("the PIN is longer than {MAX_GENERATED_LEN} bytes"));
    }
    if let Some(why) = triviality(pin) {
        return Err(format!("the PIN is too easy to guess: {why}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_pins_are_refused() {
        for p in [
            "000000", "1111", "123456", "987654", "121212", "123123", "12341234", "123321",
            "654321", "abcdef", "2580",
        ] {
            assert!(triviality(p).is_some(), "{p} should be trivial");
        }
        for p in ["482915", "730146", "5093", "K7Q2M9"] {
            assert_eq!(triviality(p), None, "{p} should be fine");
        }
    }

    #[test]
    fn generated_pins_have_the_length_and_alphabet() {
        for _ in 0..200 {
            let p = generate(6, PinAlphabet::Digits).unwrap();
            assert_eq!(p.expose().len(), 6);
            assert!(p.expose().bytes().all(|c| c.is_ascii_digit()));
            assert!(triviality(p.expose()).is_none());
        }
        let p = generate(8, PinAlphabet::Alphanumeric).unwrap();
        assert!(p
            .expose()
            .bytes()
            .all(|c| PinAlphabet::Alphanumeric.chars().contains(&c)));
        assert!(generate(3, PinAlphabet::Digits).is_err());
        assert!(generate(64, PinAlphabet::Digits).is_err());
    }

    #[test]
    fn debug_never_shows_the_pin() {
        let p = Pin::new("482915");
        assert!(!format!("{p:?}").contains("482915"));
    }

    #[test]
    fn given_pins_are_checked() {
        assert!(check_given("4829", 6).is_err());
        assert!(check_given("111111", 4).is_err());
        assert!(check_given("482915", 6).is_ok());
    }
}
