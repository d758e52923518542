//! CTAP2 canonical CBOR on top of `ciborium::Value`.
//!
//! Every CTAP and WebAuthn structure in Keysmith is encoded through
//! [`MapBuilder`] + [`encode`] and decoded through [`decode`] + [`MapReader`],
//! so map-key ordering, nesting limits and type errors are handled once.
//!
//! Canonical form (CTAP 2.1 §8 "Message Encoding"): definite lengths,
//! shortest integer encodings (ciborium's default) and map keys sorted by
//! their encoded bytes, shorter first.

use ciborium::value::Integer;
pub use ciborium::Value;

/// Deepest nesting accepted from untrusted input. CTAP messages nest at most
/// four levels; attestation objects a few more (x5c arrays inside maps).
pub const MAX_DEPTH: usize = 16;

/// Why a CBOR item could not be read as the structure expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    /// Not well-formed CBOR, nested too deep, or followed by stray bytes.
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// Well-formed, but a field has the wrong CBOR type.
    #[error("CBOR field `{0}` has the wrong type")]
    UnexpectedType(&'static str),
    /// A required field is absent.
    #[error("CBOR field `{0}` is missing")]
    Missing(&'static str),
    /// A field's value is out of the allowed range or set.
    #[error("CBOR field `{0}` has an invalid value")]
    InvalidValue(&'static str),
    /// A map repeats a key.
    #[error("CBOR map repeats a key")]
    DuplicateKey,
}

/// Encodes `value` in CTAP2 canonical form.
pub fn encode(value: &Value) -> Vec<u8> {
    let canonical = canonicalize(value.clone());
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    ciborium::ser::into_writer(&canonical, &mut out).expect("CBOR into Vec");
    out
}

/// Sorts every map (recursively) into canonical key order: by the keys'
/// encodings, shorter first, then bytewise (CTAP2 §8 canonical CBOR,
/// RFC 7049 §3.9). Sorting on the encoded bytes is a total order for any
/// key a peer may send (NaN floats, nested maps), so hostile input cannot
/// upset the sort.
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut entries: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let k = canonicalize(k);
                    let mut encoded = Vec::new();
                    ciborium::ser::into_writer(&k, &mut encoded).expect("CBOR into Vec");
                    (encoded, k, canonicalize(v))
                })
                .collect();
            entries.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then_with(|| a.0.cmp(&b.0)));
            Value::Map(entries.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        Value::Tag(tag, inner) => Value::Tag(tag, Box::new(canonicalize(*inner))),
        other => other,
    }
}

/// Decodes exactly one CBOR item that spans all of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    let (value, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(CborError::Malformed(format!(
            "{} stray bytes after the item",
            bytes.len() - used
        )));
    }
    Ok(value)
}

/// Decodes one CBOR item from the start of `bytes`; returns it and the
/// number of bytes it took (authenticator data puts a COSE key and an
/// extensions map back to back).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), CborError> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut rest, MAX_DEPTH)
        .map_err(|e| CborError::Malformed(e.to_string()))?;
    Ok((value, bytes.len() - rest.len()))
}

/// Builds a CBOR map; [`MapBuilder::build`] leaves ordering to [`encode`].
#[derive(Debug, Default, Clone)]
pub struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an integer-keyed entry.
    pub fn int(mut self, key: i64, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    /// Adds an integer-keyed entry when `value` is `Some`.
    pub fn opt_int<V: Into<Value>>(self, key: i64, value: Option<V>) -> Self {
        match value {
            Some(v) => self.int(key, v),
            None => self,
        }
    }

    /// Adds a text-keyed entry.
    pub fn text(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.push((Value::from(key), value.into()));
        self
    }

    /// Adds a text-keyed entry when `value` is `Some`.
    pub fn opt_text<V: Into<Value>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.text(key, v),
            None => self,
        }
    }

    /// Whether no entry was added (callers leave an empty map out).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The map as a CBOR value.
    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

/// A key of a CBOR map: an integer or a text string.
pub trait MapKey {
    /// Whether `key` is this key.
    fn matches(&self, key: &Value) -> bool;
}

impl MapKey for i64 {
    fn matches(&self, key: &Value) -> bool {
        matches!(key, Value::Integer(i) if i128::from(*i) == i128::from(*self))
    }
}

impl MapKey for &str {
    fn matches(&self, key: &Value) -> bool {
        matches!(key, Value::Text(t) if t == self)
    }
}

/// Takes fields out of a decoded CBOR map by key, with typed accessors that
/// turn a wrong type into [`CborError::UnexpectedType`] naming the field.
#[derive(Debug, Clone)]
pub struct MapReader {
    entries: Vec<(Value, Value)>,
}

impl MapReader {
    /// Opens `value` as a map; fails if it is not one or repeats a key.
    pub fn new(value: Value, field: &'static str) -> Result<Self, CborError> {
        let Value::Map(entries) = value else {
            return Err(CborError::UnexpectedType(field));
        };
        for (i, (k, _)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|(other, _)| other == k) {
                return Err(CborError::DuplicateKey);
            }
        }
        Ok(Self { entries })
    }

    /// Decodes `bytes` as one map.
    pub fn from_bytes(bytes: &[u8], field: &'static str) -> Result<Self, CborError> {
        Self::new(decode(bytes)?, field)
    }

    /// Removes and returns the value under `key`.
    pub fn take(&mut self, key: impl MapKey) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| key.matches(k))?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Removes and returns the value under `key`, or fails naming `field`.
    pub fn require(&mut self, key: impl MapKey, field: &'static str) -> Result<Value, CborError> {
        self.take(key).ok_or(CborError::Missing(field))
    }

    /// The byte string under `key`; missing or another type is an error naming `field`.
    pub fn bytes(&mut self, key: impl MapKey, field: &'static str) -> Result<Vec<u8>, CborError> {
        into_bytes(self.require(key, field)?, field)
    }

    /// The byte string under `key`, if present (another type is an error).
    pub fn opt_bytes(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<Vec<u8>>, CborError> {
        self.take(key).map(|v| into_bytes(v, field)).transpose()
    }

    /// The text string under `key`; missing or another type is an error naming `field`.
    pub fn text(&mut self, key: impl MapKey, field: &'static str) -> Result<String, CborError> {
        into_text(self.require(key, field)?, field)
    }

    /// The text string under `key`, if present (another type is an error).
    pub fn opt_text(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<String>, CborError> {
        self.take(key).map(|v| into_text(v, field)).transpose()
    }

    /// The integer under `key`; missing or another type is an error naming `field`.
    pub fn int(&mut self, key: impl MapKey, field: &'static str) -> Result<i64, CborError> {
        into_int(self.require(key, field)?, field)
    }

    /// The integer under `key`, if present (another type is an error).
    pub fn opt_int(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<i64>, CborError> {
        self.take(key).map(|v| into_int(v, field)).transpose()
    }

    /// The boolean under `key`, if present (another type is an error).
    pub fn opt_bool(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<bool>, CborError> {
        self.take(key).map(|v| into_bool(v, field)).transpose()
    }

    /// The array under `key`, if present (another type is an error).
    pub fn opt_array(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<Vec<Value>>, CborError> {
        self.take(key).map(|v| into_array(v, field)).transpose()
    }

    /// The map under `key` as a reader of its own, if present (another type is an error).
    pub fn opt_map(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<MapReader>, CborError> {
        self.take(key).map(|v| MapReader::new(v, field)).transpose()
    }

    /// The entries not taken yet (unknown keys a caller may ignore or reject).
    pub fn remaining(&self) -> &[(Value, Value)] {
        &self.entries
    }

    /// The entries not taken, in their order.
    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.entries
    }
}

/// `value` as a byte string, or an error naming `field`.
pub fn into_bytes(value: Value, field: &'static str) -> Result<Vec<u8>, CborError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

/// `value` as a text string, or an error naming `field`.
pub fn into_text(value: Value, field: &'static str) -> Result<String, CborError> {
    match value {
        Value::Text(t) => Ok(t),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

/// `value` as an integer within 64 bits, or an error naming `field`.
pub fn into_int(value: Value, field: &'static str) -> Result<i64, CborError> {
    match value {
        Value::Integer(i) => i64::try_from(i).map_err(|_| CborError::InvalidValue(field)),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

/// `value` as a boolean, or an error naming `field`.
pub fn into_bool(value: Value, field: &'static str) -> Result<bool, CborError> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

/// `value` as an array, or an error naming `field`.
pub fn into_array(value: Value, field: &'static str) -> Result<Vec<Value>, CborError> {
    match value {
        Value::Array(a) => Ok(a),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

/// An integer value, for building maps from numbers that are not `i64`.
pub fn int(value: i64) -> Value {
    Value::Integer(Integer::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_is_length_then_bytes() {
        let map = MapBuilder::new()
            .text("up", true)
            .int(-1, 1)
            .int(10, 2)
            .text("rk", false)
            .int(1, 3)
            .build();
        let bytes = encode(&map);
        // keys: 0x01, 0x0a, 0x20 (-1), "rk", "up"
        assert_eq!(
            bytes,
            [
                0xa5, 0x01, 0x03, 0x0a, 0x02, 0x20, 0x01, 0x62, b'r', b'k', 0xf4, 0x62, b'u', b'p',
                0xf5
            ]
        );
    }

    #[test]
    fn decode_rejects_trailing_bytes_and_duplicates() {
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(CborError::Malformed(_))
        ));
        let (v, used) = decode_prefix(&[0x01, 0x02]).unwrap();
        assert_eq!((v, used), (int(1), 1));
        let dup = decode(&[0xa2, 0x01, 0x01, 0x01, 0x02]).unwrap();
        assert!(matches!(
            MapReader::new(dup, "m"),
            Err(CborError::DuplicateKey)
        ));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut bytes = vec![0x81; 100];
        bytes.push(0x01);
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn reader_names_the_field() {
        let v = MapBuilder::new().int(1, "text").build();
        let mut r = MapReader::new(v, "req").unwrap();
        assert_eq!(
            r.clone().bytes(1, "clientDataHash"),
            Err(CborError::UnexpectedType("clientDataHash"))
        );
        assert_eq!(r.bytes(2, "rp"), Err(CborError::Missing("rp")));
    }

    /// RFC 8949 §4.2.3 / CTAP 2.1 §8: shorter encoded keys first, equal
    /// lengths bytewise, at every level (inside arrays, tags, map values
    /// and map keys).
    #[test]
    fn canonical_order_applies_at_every_level() {
        // 100 encodes as 18 64 (two bytes), -1 as 20 (one byte): the
        // shorter key sorts first although its first byte is larger.
        let inner = MapBuilder::new().int(100, 1).int(-1, 2).build();
        assert_eq!(encode(&inner), [0xa2, 0x20, 0x02, 0x18, 0x64, 0x01]);
        let sorted_inner = [0xa2, 0x20, 0x02, 0x18, 0x64, 0x01];
        let in_array = Value::Array(vec![inner.clone()]);
        assert_eq!(encode(&in_array), [&[0x81][..], &sorted_inner].concat());
        let in_tag = Value::Tag(24, Box::new(inner.clone()));
        assert_eq!(encode(&in_tag), [&[0xd8, 0x18][..], &sorted_inner].concat());
        let as_value = MapBuilder::new().int(1, inner.clone()).build();
        assert_eq!(
            encode(&as_value),
            [&[0xa1, 0x01][..], &sorted_inner].concat()
        );
        let as_key = Value::Map(vec![(inner, int(0))]);
        assert_eq!(
            encode(&as_key),
            [&[0xa1][..], &sorted_inner, &[0x00]].concat()
        );
        // Equal lengths: bytewise ("b" before "c", 0x00 before 0x01).
        let same_len = MapBuilder::new()
            .text("c", 1)
            .text("b", 2)
            .int(1, 3)
            .int(0, 4)
            .build();
        assert_eq!(
            encode(&same_len),
            [0xa4, 0x00, 0x04, 0x01, 0x03, 0x61, b'b', 0x02, 0x61, b'c', 0x01]
        );
    }

    #[test]
    fn builder_options_and_emptiness() {
        let b = MapBuilder::new();
        assert!(b.is_empty());
        let b = b.opt_int(1, None::<i64>).opt_text("x", None::<bool>);
        assert!(b.is_empty());
        let b = b.opt_int(1, Some(5)).opt_text("x", Some(true));
        assert!(!b.is_empty());
        assert_eq!(
            b.build(),
            Value::Map(vec![
                (int(1), int(5)),
                (Value::from("x"), Value::Bool(true))
            ])
        );
        assert_eq!(int(-3), Value::Integer(Integer::from(-3)));
    }

    #[test]
    fn stray_bytes_are_counted() {
        assert_eq!(
            decode(&[0x01, 0x02, 0x03]),
            Err(CborError::Malformed("2 stray bytes after the item".into()))
        );
        assert_eq!(decode_prefix(&[0x82, 0x01, 0x02, 0xff]).unwrap().1, 3);
        assert!(decode(&[]).is_err());
        assert!(decode(&[0x82, 0x01]).is_err(), "truncated array");
    }

    /// Nesting up to MAX_DEPTH levels is read; deeper is refused.
    #[test]
    fn the_nesting_limit_is_exact() {
        let nested = |levels: usize| {
            let mut bytes = vec![0x81; levels];
            bytes.push(0x01);
            bytes
        };
        let deepest = (1..=MAX_DEPTH + 2)
            .take_while(|&n| decode(&nested(n)).is_ok())
            .last()
            .unwrap();
        assert!(
            (MAX_DEPTH - 1..=MAX_DEPTH).contains(&deepest),
            "deepest accepted nesting {deepest}"
        );
        assert!(decode(&nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn keys_match_by_type_and_value() {
        assert!(5i64.matches(&int(5)));
        assert!(!5i64.matches(&int(6)));
        assert!(!5i64.matches(&Value::from("5")));
        assert!((-1i64).matches(&int(-1)));
        // A key beyond i64 never matches an i64.
        assert!(!(-1i64).matches(&Value::Integer(Integer::from(u64::MAX))));
        assert!(MapKey::matches(&"rk", &Value::from("rk")));
        assert!(!MapKey::matches(&"rk", &Value::from("up")));
        assert!(!MapKey::matches(&"1", &int(1)));
    }

    #[test]
    fn every_accessor_takes_checks_and_names() {
        let map = || {
            MapBuilder::new()
                .int(1, vec![1u8, 2])
                .int(2, "t")
                .int(3, 7)
                .int(4, true)
                .int(5, Value::Array(vec![int(1)]))
                .int(6, MapBuilder::new().int(1, 1).build())
                .text("big", Value::Integer(Integer::from(u64::MAX)))
                .build()
        };
        let mut r = MapReader::new(map(), "m").unwrap();
        assert_eq!(r.bytes(1, "b"), Ok(vec![1, 2]));
        assert_eq!(r.text(2, "t"), Ok("t".into()));
        assert_eq!(r.int(3, "i"), Ok(7));
        assert_eq!(r.opt_bool(4, "o"), Ok(Some(true)));
        assert_eq!(r.opt_array(5, "a"), Ok(Some(vec![int(1)])));
        let mut inner = r.opt_map(6, "n").unwrap().unwrap();
        assert_eq!(inner.int(1, "x"), Ok(1));
        assert_eq!(r.int("big", "big"), Err(CborError::InvalidValue("big")));
        // Each was taken out: nothing is left, and a second take finds nothing.
        assert!(r.remaining().is_empty());
        assert!(r.clone().into_entries().is_empty());
        assert_eq!(r.take(1), None);
        assert_eq!(r.opt_bytes(1, "b"), Ok(None));
        assert_eq!(r.opt_text(2, "t"), Ok(None));
        assert_eq!(r.opt_int(3, "i"), Ok(None));
        assert_eq!(r.opt_bool(4, "o"), Ok(None));
        assert_eq!(r.opt_array(5, "a"), Ok(None));
        assert!(r.opt_map(6, "n").unwrap().is_none());
        assert_eq!(r.text(2, "t"), Err(CborError::Missing("t")));
        assert_eq!(r.int(3, "i"), Err(CborError::Missing("i")));

        // Present with the wrong type: the field is named.
        let mut r = MapReader::new(map(), "m").unwrap();
        assert_eq!(r.remaining().len(), 7);
        assert_eq!(r.opt_bytes(2, "b"), Err(CborError::UnexpectedType("b")));
        assert_eq!(r.opt_text(1, "t"), Err(CborError::UnexpectedType("t")));
        assert_eq!(r.opt_int(4, "i"), Err(CborError::UnexpectedType("i")));
        assert_eq!(r.opt_bool(3, "o"), Err(CborError::UnexpectedType("o")));
        assert_eq!(r.opt_array(6, "a"), Err(CborError::UnexpectedType("a")));
        assert!(matches!(
            r.opt_map(5, "n"),
            Err(CborError::UnexpectedType("n"))
        ));
        let mut r = MapReader::new(map(), "m").unwrap();
        assert_eq!(r.opt_bytes(1, "b"), Ok(Some(vec![1, 2])));
        assert_eq!(r.opt_text(2, "t"), Ok(Some("t".into())));
        assert_eq!(r.opt_int(3, "i"), Ok(Some(7)));
        assert_eq!(r.into_entries().len(), 4);
        assert!(matches!(
            MapReader::new(int(1), "top"),
            Err(CborError::UnexpectedType("top"))
        ));
        assert!(MapReader::from_bytes(&[0xa1, 0x01, 0x02], "m").is_ok());
        assert!(matches!(
            MapReader::from_bytes(&[0x01], "m"),
            Err(CborError::UnexpectedType("m"))
        ));
        // Duplicates anywhere in the map, not only adjacent.
        let dup = Value::Map(vec![(int(1), int(1)), (int(2), int(2)), (int(1), int(3))]);
        assert!(matches!(
            MapReader::new(dup, "m"),
            Err(CborError::DuplicateKey)
        ));
        for (value, into) in [
            (Value::Bool(true), into_bytes(int(1), "f").is_err()),
            (Value::Bool(true), into_text(int(1), "f").is_err()),
            (Value::Bool(true), into_int(Value::from("1"), "f").is_err()),
            (Value::Bool(true), into_bool(int(1), "f").is_err()),
            (Value::Bool(true), into_array(int(1), "f").is_err()),
        ] {
            assert!(into, "{value:?}");
        }
    }
}
