//! A minimal reader of BER/DER tag-length-value items (X.690 §8.1).
//!
//! The `der` crate covers X.509 itself, but it only knows low tag numbers
//! (0..=30) and insists on canonical DER. Android's KeyDescription uses
//! context tags such as `[600]` and `[702]`, and some real attestation
//! certificates carry small BER deviations, so the few structures that need
//! it are walked with this reader instead. It only splits bytes; it never
//! interprets them.

/// One item: its class, constructed bit, tag number, content, and the
/// whole encoding (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tlv<'a> {
    /// Class bits (0 universal, 1 application, 2 context-specific, 3 private).
    pub class: u8,
    /// Whether the constructed bit is set.
    pub constructed: bool,
    /// The tag number.
    pub number: u32,
    /// The content octets.
    pub value: &'a [u8],
    /// The complete encoding of the item.
    pub raw: &'a [u8],
}

/// Universal SEQUENCE.
pub(crate) const SEQUENCE: u32 = 16;
/// Universal SET.
pub(crate) const SET: u32 = 17;
/// Universal OCTET STRING.
pub(crate) const OCTET_STRING: u32 = 4;

/// Class number of context-specific tags.
pub(crate) const CONTEXT: u8 = 2;

/// Reads the item at the start of `input`; returns it and the rest.
/// Indefinite lengths are refused.
pub(crate) fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let first = *input.first()?;
    let class = first >> 6;
    let constructed = first & 0x20 != 0;
    let mut pos = 1;
    let mut number = u32::from(first & 0x1f);
    if number == 0x1f {
        number = 0;
        loop {
            let b = *input.get(pos)?;
            pos += 1;
            if number > (u32::MAX >> 7) {
                return None;
            }
            number = (number << 7) | u32::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len_byte = *input.get(pos)?;
    pos += 1;
    let len = if len_byte < 0x80 {
        usize::from(len_byte)
    } else {
        let n = usize::from(len_byte & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for _ in 0..n {
            len = (len << 8) | usize::from(*input.get(pos)?);
            pos += 1;
        }
        len
    };
    let end = pos.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((
        Tlv {
            class,
            constructed,
            number,
            value: &input[pos..end],
            raw: &input[..end],
        },
        &input[end..],
    ))
}

/// Splits the content of a constructed item into its children.
pub(crate) fn children(content: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let (item, next) = read(rest)?;
        out.push(item);
        rest = next;
    }
    Some(out)
}

impl Tlv<'_> {
    /// Whether this is the universal item with tag `number`.
    pub(crate) fn is_universal(&self, number: u32) -> bool {
        self.class == 0 && self.number == number
    }

    /// Whether this is the context-specific item `[number]`.
    pub(crate) fn is_context(&self, number: u32) -> bool {
        self.class == CONTEXT && self.number == number
    }

    /// The content as a small non-negative integer (INTEGER or ENUMERATED).
    pub(crate) fn small_uint(&self) -> Option<u64> {
        if self.value.is_empty() || self.value.len() > 9 || self.value[0] & 0x80 != 0 {
            return None;
        }
        let mut v: u64 = 0;
        for &b in self.value {
            v = v.checked_mul(256)? | u64::from(b);
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_tag_numbers_and_long_lengths() {
        // [702] EXPLICIT INTEGER 0  → bf 85 3e 03 02 01 00
        let bytes = [0xbf, 0x85, 0x3e, 0x03, 0x02, 0x01, 0x00];
        let (t, rest) = read(&bytes).unwrap();
        assert!(rest.is_empty());
        assert!(t.is_context(702) && t.constructed);
        let inner = children(t.value).unwrap();
        assert_eq!(inner[0].small_uint(), Some(0));
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        let (t, _) = read(&long).unwrap();
        assert_eq!(t.value.len(), 128);
        assert!(read(&[0x04, 0x05, 1]).is_none());
        assert!(read(&[0x30, 0x80]).is_none());
    }

    /// X.690 §8.1.2.2: bits 8–7 are the class, bit 6 constructed.
    #[test]
    fn class_and_constructed_bits() {
        for (tag, class, constructed, number) in [
            (0x02, 0, false, 2),
            (0x30, 0, true, 16),
            (0x31, 0, true, 17),
            (0x41, 1, false, 1),
            (0x80, 2, false, 0),
            (0xa3, 2, true, 3),
            (0xc5, 3, false, 5),
        ] {
            let bytes = [tag, 0x01, 0x00, 0xee];
            let (t, rest) = read(&bytes).unwrap();
            assert_eq!(
                (t.class, t.constructed, t.number),
                (class, constructed, number),
                "{tag:#x}"
            );
            assert_eq!(
                (t.value, t.raw, rest),
                (&[0u8][..], &bytes[..3], &[0xee][..])
            );
        }
        let (t, _) = read(&[0x84, 0x00]).unwrap();
        assert!(t.is_context(4) && !t.is_universal(4));
        let (t, _) = read(&[0x04, 0x00]).unwrap();
        assert!(t.is_universal(OCTET_STRING) && !t.is_context(4) && !t.is_universal(5));
        let (t, _) = read(&[0x44, 0x00]).unwrap();
        assert!(!t.is_universal(4) && !t.is_context(4), "application class");
    }

    /// X.690 §8.1.2.4: high tag numbers in base 128; a number that does
    /// not fit 32 bits is refused.
    #[test]
    fn high_tag_numbers_up_to_32_bits() {
        let (t, _) = read(&[0x9f, 0x8f, 0xff, 0xff, 0xff, 0x7f, 0x00]).unwrap();
        assert_eq!(t.number, u32::MAX);
        assert!(read(&[0x9f, 0x90, 0x80, 0x80, 0x80, 0x00, 0x00]).is_none());
        assert!(read(&[0x9f, 0x8f, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]).is_none());
        let (t, _) = read(&[0x9f, 0x1f, 0x00]).unwrap();
        assert_eq!(t.number, 31);
        assert!(read(&[0x9f, 0x85]).is_none(), "truncated tag");
        assert!(read(&[0x9f, 0x05]).is_none(), "no length");
        assert!(read(&[]).is_none());
    }

    /// X.690 §8.1.3: short and long definite lengths (up to four length
    /// bytes here); indefinite (0x80) refused.
    #[test]
    fn definite_lengths_only() {
        let body = vec![7u8; 300];
        for header in [
            vec![0x04, 0x82, 0x01, 0x2c],
            vec![0x04, 0x83, 0x00, 0x01, 0x2c],
            vec![0x04, 0x84, 0x00, 0x00, 0x01, 0x2c],
        ] {
            let bytes = [header.clone(), body.clone()].concat();
            let (t, rest) = read(&bytes).unwrap();
            assert_eq!(t.value.len(), 300, "{header:x?}");
            assert!(rest.is_empty());
        }
        let five = [&[0x04, 0x85, 0, 0, 0, 0x01, 0x2c][..], &body].concat();
        assert!(read(&five).is_none());
        // 0x80 is the indefinite form, even with 128 bytes to follow.
        let indefinite = [&[0x04, 0x80][..], &[0u8; 130]].concat();
        assert!(read(&indefinite).is_none());
        assert!(read(&[0x04, 0x82, 0x01]).is_none(), "truncated length");
        assert!(read(&[0x04, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        // 0x7f is the longest short form.
        let short = [&[0x04, 0x7f][..], &[1u8; 127]].concat();
        assert_eq!(read(&short).unwrap().0.value.len(), 127);
        assert!(read(&short[..128]).is_none(), "one byte short");
    }

    #[test]
    fn children_split_the_whole_content() {
        assert_eq!(children(&[]), Some(vec![]));
        let items = children(&[0x02, 0x01, 0x05, 0x04, 0x00]).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].small_uint(), Some(5));
        assert!(children(&[0x02, 0x01, 0x05, 0x04]).is_none());
    }

    /// X.690 §8.3: two's complement, big-endian; only non-negative values
    /// that fit 64 bits are small.
    #[test]
    fn small_unsigned_integers() {
        let uint = |v: &[u8]| {
            let bytes = [&[0x02, v.len() as u8][..], v].concat();
            read(&bytes).unwrap().0.small_uint()
        };
        assert_eq!(uint(&[0]), Some(0));
        assert_eq!(uint(&[0x7f]), Some(127));
        assert_eq!(uint(&[0x00, 0x80]), Some(128));
        assert_eq!(uint(&[0x01, 0x00]), Some(256));
        assert_eq!(uint(&[0x12, 0x34, 0x56]), Some(0x12_3456));
        assert_eq!(
            uint(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Some(u64::MAX)
        );
        assert_eq!(uint(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0]), None, "2^64");
        assert_eq!(uint(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), None, "ten bytes");
        assert_eq!(uint(&[]), None);
        assert_eq!(uint(&[0x80]), None, "negative");
        assert_eq!(uint(&[0xff, 0xff]), None, "negative");
    }
}
