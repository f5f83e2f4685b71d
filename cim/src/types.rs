//! CIM data types (DSP0004 §5.2) and their DSP0201 `TYPE` attribute spelling.

use crate::name::CimName;
use std::fmt;

/// The type of a property, parameter, method return value or qualifier.
///
/// Arrays are not a separate type: the containing element records `is_array`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CimType {
    /// `boolean`
    Boolean,
    /// `char16`
    Char16,
    /// `string`
    String,
    /// `datetime` (timestamp or interval)
    DateTime,
    /// `uint8`
    Uint8,
    /// `sint8`
    Sint8,
    /// `uint16`
    Uint16,
    /// `sint16`
    Sint16,
    /// `uint32`
    Uint32,
    /// `sint32`
    Sint32,
    /// `uint64`
    Uint64,
    /// `sint64`
    Sint64,
    /// `real32`
    Real32,
    /// `real64`
    Real64,
    /// `reference`, optionally to a named class (`Class REF name`).
    Reference(Option<CimName>),
    /// A `string` carrying an embedded object (class or instance), DSP0201 `EmbeddedObject="object"`.
    EmbeddedObject,
    /// A `string` carrying an embedded instance, DSP0201 `EmbeddedObject="instance"`.
    EmbeddedInstance,
}

impl CimType {
    /// The DSP0201 `TYPE` / `PARAMTYPE` attribute value (`"string"` for embedded objects).
    pub fn xml_name(&self) -> &'static str {
        match self {
            CimType::Boolean => "boolean",
            CimType::Char16 => "char16",
            CimType::String | CimType::EmbeddedObject | CimType::EmbeddedInstance => "string",
            CimType::DateTime => "datetime",
            CimType::Uint8 => "uint8",
            CimType::Sint8 => "sint8",
            CimType::Uint16 => "uint16",
            CimType::Sint16 => "sint16",
            CimType::Uint32 => "uint32",
            CimType::Sint32 => "sint32",
            CimType::Uint64 => "uint64",
            CimType::Sint64 => "sint64",
            CimType::Real32 => "real32",
            CimType::Real64 => "real64",
            CimType::Reference(_) => "reference",
        }
    }

    /// Parses a DSP0201 `TYPE` attribute value or a MOF data type keyword
    /// (case-insensitive). `reference` yields an untyped reference.
    pub fn from_name(name: &str) -> Option<CimType> {
        let t = match name.to_ascii_lowercase().as_str() {
            "boolean" => CimType::Boolean,
            "char16" => CimType::Char16,
            "string" => CimType::String,
            "datetime" => CimType::DateTime,
            "uint8" => CimType::Uint8,
            "sint8" => CimType::Sint8,
            "uint16" => CimType::Uint16,
            "sint16" => CimType::Sint16,
            "uint32" => CimType::Uint32,
            "sint32" => CimType::Sint32,
            "uint64" => CimType::Uint64,
            "sint64" => CimType::Sint64,
            "real32" => CimType::Real32,
            "real64" => CimType::Real64,
            "reference" | "ref" => CimType::Reference(None),
            _ => return None,
        };
        Some(t)
    }

    /// True for the eight integer types.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            CimType::Uint8
                | CimType::Sint8
                | CimType::Uint16
                | CimType::Sint16
                | CimType::Uint32
                | CimType::Sint32
                | CimType::Uint64
                | CimType::Sint64
        )
    }

    /// True for `real32` and `real64`.
    pub fn is_real(&self) -> bool {
        matches!(self, CimType::Real32 | CimType::Real64)
    }

    /// True for references.
    pub fn is_reference(&self) -> bool {
        matches!(self, CimType::Reference(_))
    }

    /// True for strings, including embedded objects and instances.
    pub fn is_string_like(&self) -> bool {
        matches!(
            self,
            CimType::String | CimType::EmbeddedObject | CimType::EmbeddedInstance
        )
    }

    /// The inclusive range of an integer type, as i128.
    pub fn integer_range(&self) -> Option<(i128, i128)> {
        Some(match self {
            CimType::Uint8 => (0, u8::MAX as i128),
            CimType::Sint8 => (i8::MIN as i128, i8::MAX as i128),
            CimType::Uint16 => (0, u16::MAX as i128),
            CimType::Sint16 => (i16::MIN as i128, i16::MAX as i128),
            CimType::Uint32 => (0, u32::MAX as i128),
            CimType::Sint32 => (i32::MIN as i128, i32::MAX as i128),
            CimType::Uint64 => (0, u64::MAX as i128),
            CimType::Sint64 => (i64::MIN as i128, i64::MAX as i128),
            _ => return None,
        })
    }
}

impl fmt::Display for CimType {
    /// MOF spelling (`Class REF` is written by the MOF printer itself).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CimType::Reference(Some(c)) => write!(f, "{c} REF"),
            other => f.write_str(other.xml_name()),
        }
    }
}
