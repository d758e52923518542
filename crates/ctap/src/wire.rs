//! One declaration per wire enum: [`wire_enum!`] names each value of a
//! protocol byte once and derives both directions from that list (in the
//! manner of rustls's `enum_builder!`), so an encoder and a decoder cannot
//! disagree about a value. [`map_keys!`] does the same for the integer
//! keys of a command's parameter or response map: each key's number and
//! CTAP 2.1 name are written once, and both directions of the codec (and
//! the decoding errors, which name the field) use that constant.

/// Declares an enum of a one-byte wire field.
///
/// *Open* enums end in `_ => Unknown(u8)`: every byte decodes (a byte without a
/// name becomes `Unknown`, which encodes back to itself), and `KNOWN`
/// lists the named values. *Closed* enums have no `Unknown`: `from_byte`
/// answers `None` for a byte without a name, and `ALL` lists the values.
/// Both get `to_byte`, `from_byte` and the derives `Debug, Clone, Copy,
/// PartialEq, Eq, Hash`; other attributes pass through.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
            _ => $(#[$umeta:meta])* Unknown(u8) $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nOn the wire: `", stringify!($value), "`.")]
                $variant,
            )+
            $(#[$umeta])*
            /// A byte without a name here, kept so that it encodes back to
            /// itself.
            Unknown(u8),
        }

        impl $name {
            /// Every named value, in declaration order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The byte on the wire.
            pub fn to_byte(self) -> u8 {
                match self {
                    $( Self::$variant => $value, )+
                    Self::Unknown(b) => b,
                }
            }

            /// The value of a byte (`Unknown` for one without a name).
            pub fn from_byte(b: u8) -> Self {
                match b {
                    $( $value => Self::$variant, )+
                    other => Self::Unknown(other),
                }
            }
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("\n\nOn the wire: `", stringify!($value), "`.")]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The byte on the wire.
            pub fn to_byte(self) -> u8 {
                match self {
                    $( Self::$variant => $value, )+
                }
            }

            /// The value of a byte, if it names one.
            pub fn from_byte(b: u8) -> Option<Self> {
                match b {
                    $( $value => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

/// Declares the integer keys of one CBOR map of the protocol, as
/// constants of a unit struct: `NAME = 0x01, "specName";` gives
/// `Struct::NAME`, a [`Key`](crate::cmd::Key) with that number and name,
/// and `Struct::ALL` lists them in declaration order.
macro_rules! map_keys {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$kmeta:meta])* $konst:ident = $id:literal, $field:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;

        impl $name {
            $(
                $(#[$kmeta])*
                #[doc = concat!("`", $field, "` (", stringify!($id), ").")]
                pub const $konst: $crate::cmd::Key = $crate::cmd::Key {
                    id: $id,
                    name: $field,
                };
            )+
            /// Every key, in declaration order.
            pub const ALL: &'static [$crate::cmd::Key] = &[$(Self::$konst),+];
        }
    };
}

#[cfg(test)]
mod tests {
    wire_enum! {
        /// An open test enum.
        enum Open {
            A = 0x01,
            B = 0xFF,
            _ => Unknown(u8),
        }
    }

    wire_enum! {
        /// A closed test enum.
        enum Closed {
            X = 0x0A,
            Y = 0x0B,
        }
    }

    #[test]
    fn open_enums_take_every_byte_and_give_it_back() {
        assert_eq!(Open::KNOWN, &[Open::A, Open::B]);
        assert_eq!(Open::from_byte(0x01), Open::A);
        assert_eq!(Open::from_byte(0xFF), Open::B);
        for b in 0..=u8::MAX {
            assert_eq!(Open::from_byte(b).to_byte(), b);
        }
        assert_eq!(Open::from_byte(0x02), Open::Unknown(0x02));
    }

    map_keys! {
        /// Test keys.
        struct TestKey {
            FIRST = 0x01, "first";
            SECOND = 0x0A, "second";
        }
    }

    #[test]
    fn map_keys_carry_their_number_and_name() {
        assert_eq!(TestKey::FIRST.id, 1);
        assert_eq!(TestKey::SECOND.name, "second");
        assert_eq!(TestKey::ALL, &[TestKey::FIRST, TestKey::SECOND]);
    }

    #[test]
    fn closed_enums_refuse_unnamed_bytes() {
        assert_eq!(Closed::ALL, &[Closed::X, Closed::Y]);
        assert_eq!(Closed::from_byte(0x0B), Some(Closed::Y));
        assert_eq!(Closed::from_byte(0x0C), None);
        for c in Closed::ALL {
            assert_eq!(Closed::from_byte(c.to_byte()), Some(*c));
        }
    }
}
