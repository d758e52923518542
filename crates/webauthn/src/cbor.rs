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

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn build(self) -> Value {
        Value::Map(self.0)
    }
}

/// A key of a CBOR map: an integer or a text string.
pub trait MapKey {
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

    pub fn bytes(&mut self, key: impl MapKey, field: &'static str) -> Result<Vec<u8>, CborError> {
        into_bytes(self.require(key, field)?, field)
    }

    pub fn opt_bytes(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<Vec<u8>>, CborError> {
        self.take(key).map(|v| into_bytes(v, field)).transpose()
    }

    pub fn text(&mut self, key: impl MapKey, field: &'static str) -> Result<String, CborError> {
        into_text(self.require(key, field)?, field)
    }

    pub fn opt_text(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<String>, CborError> {
        self.take(key).map(|v| into_text(v, field)).transpose()
    }

    pub fn int(&mut self, key: impl MapKey, field: &'static str) -> Result<i64, CborError> {
        into_int(self.require(key, field)?, field)
    }

    pub fn opt_int(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<i64>, CborError> {
        self.take(key).map(|v| into_int(v, field)).transpose()
    }

    pub fn opt_bool(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<bool>, CborError> {
        self.take(key).map(|v| into_bool(v, field)).transpose()
    }

    pub fn opt_array(
        &mut self,
        key: impl MapKey,
        field: &'static str,
    ) -> Result<Option<Vec<Value>>, CborError> {
        self.take(key).map(|v| into_array(v, field)).transpose()
    }

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

    pub fn into_entries(self) -> Vec<(Value, Value)> {
        self.entries
    }
}

pub fn into_bytes(value: Value, field: &'static str) -> Result<Vec<u8>, CborError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

pub fn into_text(value: Value, field: &'static str) -> Result<String, CborError> {
    match value {
        Value::Text(t) => Ok(t),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

pub fn into_int(value: Value, field: &'static str) -> Result<i64, CborError> {
    match value {
        Value::Integer(i) => i64::try_from(i).map_err(|_| CborError::InvalidValue(field)),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

pub fn into_bool(value: Value, field: &'static str) -> Result<bool, CborError> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(CborError::UnexpectedType(field)),
    }
}

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
}
