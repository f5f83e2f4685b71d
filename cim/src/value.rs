//! CIM values (DSP0004 §5.2) and their textual form in CIM-XML `VALUE` elements
//! (DSP0201 §5.2.4: integers in decimal, reals in the shortest round-trip form,
//! booleans `TRUE`/`FALSE`, datetimes in the 25-character DSP0004 form).

use crate::class::Class;
use crate::instance::Instance;
use crate::path::ObjectPath;
use crate::types::CimType;
use std::fmt;

/// A CIM value. `Null` stands for NULL, both as a whole value and as an array element.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// `boolean`
    Boolean(bool),
    /// `char16`
    Char16(char),
    /// `string`
    String(String),
    /// `datetime`
    DateTime(DateTime),
    /// `uint8`
    Uint8(u8),
    /// `sint8`
    Sint8(i8),
    /// `uint16`
    Uint16(u16),
    /// `sint16`
    Sint16(i16),
    /// `uint32`
    Uint32(u32),
    /// `sint32`
    Sint32(i32),
    /// `uint64`
    Uint64(u64),
    /// `sint64`
    Sint64(i64),
    /// `real32`
    Real32(f32),
    /// `real64`
    Real64(f64),
    /// `reference`
    Reference(ObjectPath),
    /// An embedded instance (`EmbeddedObject="instance"` or `"object"` holding an instance).
    Instance(Box<Instance>),
    /// An embedded class (`EmbeddedObject="object"` holding a class).
    Class(Box<Class>),
    /// An array; elements may be `Null`.
    Array(Vec<Value>),
}

/// Why a string could not be read as a value of a given type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {ty} value: {reason}")]
pub struct ValueParseError {
    /// The offending text (truncated to 80 characters).
    pub text: String,
    /// The declared type's name.
    pub ty: &'static str,
    /// What is wrong.
    pub reason: &'static str,
}

impl ValueParseError {
    fn new(text: &str, ty: &CimType, reason: &'static str) -> Self {
        let text: String = text.chars().take(80).collect();
        ValueParseError {
            text,
            ty: ty.xml_name(),
            reason,
        }
    }
}

impl Value {
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The string inside a `String` value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean inside a `Boolean` value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// Any integer value widened to i128.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::Uint8(v) => v as i128,
            Value::Sint8(v) => v as i128,
            Value::Uint16(v) => v as i128,
            Value::Sint16(v) => v as i128,
            Value::Uint32(v) => v as i128,
            Value::Sint32(v) => v as i128,
            Value::Uint64(v) => v as i128,
            Value::Sint64(v) => v as i128,
            _ => return None,
        })
    }

    /// Any integer value as u64, if it fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_i128().and_then(|v| u64::try_from(v).ok())
    }

    /// Any numeric value as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Real32(v) => Some(v as f64),
            Value::Real64(v) => Some(v),
            _ => self.as_i128().map(|v| v as f64),
        }
    }

    /// The reference inside a `Reference` value.
    pub fn as_reference(&self) -> Option<&ObjectPath> {
        match self {
            Value::Reference(p) => Some(p),
            _ => None,
        }
    }

    /// The elements of an array value.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) => Some(v),
            _ => None,
        }
    }

    /// The type this value carries, where it can tell (not for `Null` or empty arrays).
    pub fn cim_type(&self) -> Option<CimType> {
        Some(match self {
            Value::Null => return None,
            Value::Boolean(_) => CimType::Boolean,
            Value::Char16(_) => CimType::Char16,
            Value::String(_) => CimType::String,
            Value::DateTime(_) => CimType::DateTime,
            Value::Uint8(_) => CimType::Uint8,
            Value::Sint8(_) => CimType::Sint8,
            Value::Uint16(_) => CimType::Uint16,
            Value::Sint16(_) => CimType::Sint16,
            Value::Uint32(_) => CimType::Uint32,
            Value::Sint32(_) => CimType::Sint32,
            Value::Uint64(_) => CimType::Uint64,
            Value::Sint64(_) => CimType::Sint64,
            Value::Real32(_) => CimType::Real32,
            Value::Real64(_) => CimType::Real64,
            Value::Reference(p) => CimType::Reference(Some(p.class_name.clone())),
            Value::Instance(_) => CimType::EmbeddedInstance,
            Value::Class(_) => CimType::EmbeddedObject,
            Value::Array(items) => return items.iter().find_map(|v| v.cim_type()),
        })
    }

    /// Parses the text of a scalar CIM-XML `VALUE` of type `ty`.
    ///
    /// References and embedded objects are not text and are refused here; the
    /// XML reader handles them. Surrounding whitespace is ignored for
    /// non-string types, as pywbem and OpenPegasus do.
    pub fn parse_scalar(text: &str, ty: &CimType) -> Result<Value, ValueParseError> {
        let t = text.trim();
        let err = |reason| ValueParseError::new(text, ty, reason);
        Ok(match ty {
            CimType::String => Value::String(text.to_owned()),
            CimType::EmbeddedObject | CimType::EmbeddedInstance => {
                return Err(err("embedded objects are decoded by the XML reader"))
            }
            CimType::Boolean => {
                if t.eq_ignore_ascii_case("true") {
                    Value::Boolean(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Value::Boolean(false)
                } else {
                    return Err(err("expected TRUE or FALSE"));
                }
            }
            CimType::Char16 => {
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if (c as u32) <= 0xFFFF => Value::Char16(c),
                    (None, _) => return Err(err("empty char16")),
                    _ => return Err(err("char16 holds exactly one UCS-2 character")),
                }
            }
            CimType::DateTime => {
                Value::DateTime(DateTime::parse(t).map_err(|_| err("not a DSP0004 datetime"))?)
            }
            CimType::Real32 => {
                let v: f64 = parse_real(t).ok_or_else(|| err("not a real number"))?;
                Value::Real32(v as f32)
            }
            CimType::Real64 => {
                Value::Real64(parse_real(t).ok_or_else(|| err("not a real number"))?)
            }
            CimType::Reference(_) => return Err(err("references are not text values")),
            int_ty => {
                let v = parse_integer(t).ok_or_else(|| err("not an integer"))?;
                let (lo, hi) = int_ty.integer_range().expect("integer type");
                if v < lo || v > hi {
                    return Err(err("out of range for the type"));
                }
                Value::from_i128(v, int_ty).expect("range checked")
            }
        })
    }

    /// Builds an integer value of `ty` from `v`, if it fits.
    pub fn from_i128(v: i128, ty: &CimType) -> Option<Value> {
        Some(match ty {
            CimType::Uint8 => Value::Uint8(v.try_into().ok()?),
            CimType::Sint8 => Value::Sint8(v.try_into().ok()?),
            CimType::Uint16 => Value::Uint16(v.try_into().ok()?),
            CimType::Sint16 => Value::Sint16(v.try_into().ok()?),
            CimType::Uint32 => Value::Uint32(v.try_into().ok()?),
            CimType::Sint32 => Value::Sint32(v.try_into().ok()?),
            CimType::Uint64 => Value::Uint64(v.try_into().ok()?),
            CimType::Sint64 => Value::Sint64(v.try_into().ok()?),
            CimType::Real32 => Value::Real32(v as f32),
            CimType::Real64 => Value::Real64(v as f64),
            _ => return None,
        })
    }

    /// The text of a scalar value as it appears inside a CIM-XML `VALUE`
    /// element (unescaped). `None` for `Null`, arrays, references and embedded objects.
    pub fn to_xml_text(&self) -> Option<String> {
        Some(match self {
            Value::Boolean(true) => "TRUE".to_owned(),
            Value::Boolean(false) => "FALSE".to_owned(),
            Value::Char16(c) => c.to_string(),
            Value::String(s) => s.clone(),
            Value::DateTime(d) => d.to_string(),
            Value::Uint8(v) => v.to_string(),
            Value::Sint8(v) => v.to_string(),
            Value::Uint16(v) => v.to_string(),
            Value::Sint16(v) => v.to_string(),
            Value::Uint32(v) => v.to_string(),
            Value::Sint32(v) => v.to_string(),
            Value::Uint64(v) => v.to_string(),
            Value::Sint64(v) => v.to_string(),
            Value::Real32(v) => format_real(*v as f64, true),
            Value::Real64(v) => format_real(*v, false),
            _ => return None,
        })
    }
}

/// Integer literal forms shared by CIM-XML and MOF: optional sign, decimal digits.
/// (MOF's hex/octal/binary forms are handled by the MOF compiler.)
pub fn parse_integer(t: &str) -> Option<i128> {
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 38 {
        return None;
    }
    let v: i128 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// A real literal (`-.5`, `6.02E+23`, `1`); also accepts `INF`, `-INF` and `NaN` as DSP0201 allows.
pub fn parse_real(t: &str) -> Option<f64> {
    match t {
        "INF" | "+INF" => return Some(f64::INFINITY),
        "-INF" => return Some(f64::NEG_INFINITY),
        "NaN" => return Some(f64::NAN),
        _ => {}
    }
    let ok = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if !ok {
        return None;
    }
    t.parse::<f64>().ok()
}

fn format_real(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "INF" } else { "-INF" }.to_owned();
    }
    // Rust's shortest round-trip form; make sure a real always looks like one.
    let s = if single {
        format!("{:?}", v as f32)
    } else {
        format!("{v:?}")
    };
    s.replace("e", "E")
}

/// A DSP0004 datetime: a timestamp `yyyymmddhhmmss.mmmmmmsutc` or an interval
/// `ddddddddhhmmss.mmmmmm:000`. The string form is kept verbatim (it may hold
/// `*` wildcards for reduced precision), and validated on construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime(String);

/// The fields of a datetime, where not wildcarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeParts {
    /// A point in time; `utc_offset` in minutes east of UTC.
    Timestamp {
        /// Year (0–9999)
        year: u16,
        /// Month (1–12)
        month: u8,
        /// Day (1–31)
        day: u8,
        /// Hour (0–23)
        hour: u8,
        /// Minute (0–59)
        minute: u8,
        /// Second (0–60)
        second: u8,
        /// Microseconds
        micros: u32,
        /// Offset from UTC in minutes
        utc_offset: i16,
    },
    /// A duration.
    Interval {
        /// Days (0–99999999)
        days: u32,
        /// Hours
        hours: u8,
        /// Minutes
        minutes: u8,
        /// Seconds
        seconds: u8,
        /// Microseconds
        micros: u32,
    },
}

/// A string that is not a DSP0004 datetime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a DSP0004 datetime (yyyymmddhhmmss.mmmmmmsutc or ddddddddhhmmss.mmmmmm:000)")]
pub struct DateTimeError(pub String);

impl DateTime {
    /// Validates and wraps a 25-character datetime string.
    pub fn parse(s: &str) -> Result<DateTime, DateTimeError> {
        let bad = || DateTimeError(s.chars().take(40).collect());
        let b = s.as_bytes();
        if b.len() != 25 || b[14] != b'.' {
            return Err(bad());
        }
        let digit_or_star =
            |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit() || *c == b'*');
        match b[21] {
            b':' => {
                if !digit_or_star(0..14) || !digit_or_star(15..21) || &b[22..25] != b"000" {
                    return Err(bad());
                }
            }
            b'+' | b'-' => {
                if !digit_or_star(0..14)
                    || !digit_or_star(15..21)
                    || !b[22..25].iter().all(u8::is_ascii_digit)
                {
                    return Err(bad());
                }
            }
            _ => return Err(bad()),
        }
        let dt = DateTime(s.to_owned());
        // Range-check the fields that are not wildcarded.
        if let Some(DateTimeParts::Timestamp {
            month,
            day,
            hour,
            minute,
            second,
            ..
        }) = dt.parts()
        {
            if !(1..=12).contains(&month)
                || !(1..=31).contains(&day)
                || hour > 23
                || minute > 59
                || second > 60
            {
                return Err(bad());
            }
        }
        if let Some(DateTimeParts::Interval {
            hours,
            minutes,
            seconds,
            ..
        }) = dt.parts()
        {
            if hours > 23 || minutes > 59 || seconds > 59 {
                return Err(bad());
            }
        }
        Ok(dt)
    }

    /// Builds a timestamp from its fields.
    #[allow(clippy::too_many_arguments)]
    pub fn timestamp(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        micros: u32,
        utc_offset: i16,
    ) -> DateTime {
        let sign = if utc_offset < 0 { '-' } else { '+' };
        DateTime(format!(
            "{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}.{micros:06}{sign}{:03}",
            utc_offset.unsigned_abs()
        ))
    }

    /// Builds an interval from its fields.
    pub fn interval(days: u32, hours: u8, minutes: u8, seconds: u8, micros: u32) -> DateTime {
        DateTime(format!(
            "{days:08}{hours:02}{minutes:02}{seconds:02}.{micros:06}:000"
        ))
    }

    /// A timestamp for a number of seconds since the Unix epoch, in UTC.
    pub fn from_unix_seconds(secs: u64) -> DateTime {
        let days = secs / 86400;
        let rem = secs % 86400;
        let (y, m, d) = civil_from_days(days as i64);
        DateTime::timestamp(
            y as u16,
            m,
            d,
            (rem / 3600) as u8,
            (rem / 60 % 60) as u8,
            (rem % 60) as u8,
            0,
            0,
        )
    }

    /// True for intervals.
    pub fn is_interval(&self) -> bool {
        self.0.as_bytes()[21] == b':'
    }

    /// The string form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fields, or `None` when any of them is wildcarded.
    pub fn parts(&self) -> Option<DateTimeParts> {
        let s = &self.0;
        if s.contains('*') {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s[r].parse::<u32>().ok();
        if self.is_interval() {
            Some(DateTimeParts::Interval {
                days: n(0..8)?,
                hours: n(8..10)? as u8,
                minutes: n(10..12)? as u8,
                seconds: n(12..14)? as u8,
                micros: n(15..21)?,
            })
        } else {
            let off = n(22..25)? as i16;
            Some(DateTimeParts::Timestamp {
                year: n(0..4)? as u16,
                month: n(4..6)? as u8,
                day: n(6..8)? as u8,
                hour: n(8..10)? as u8,
                minute: n(10..12)? as u8,
                second: n(12..14)? as u8,
                micros: n(15..21)?,
                utc_offset: if &s[21..22] == "-" { -off } else { off },
            })
        }
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scalars_by_type() {
        assert_eq!(
            Value::parse_scalar("TRUE", &CimType::Boolean),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            Value::parse_scalar(" 42 ", &CimType::Uint8),
            Ok(Value::Uint8(42))
        );
        assert!(Value::parse_scalar("256", &CimType::Uint8).is_err());
        assert!(Value::parse_scalar("-1", &CimType::Uint32).is_err());
        assert_eq!(
            Value::parse_scalar("-128", &CimType::Sint8),
            Ok(Value::Sint8(-128))
        );
        assert_eq!(
            Value::parse_scalar("-.5", &CimType::Real64),
            Ok(Value::Real64(-0.5))
        );
        assert!(Value::parse_scalar("abc", &CimType::Real32).is_err());
        assert!(Value::parse_scalar("ab", &CimType::Char16).is_err());
    }

    #[test]
    fn datetime_forms() {
        let ts = DateTime::parse("20261122024930.123456+060").unwrap();
        assert!(!ts.is_interval());
        assert_eq!(
            ts.parts(),
            Some(DateTimeParts::Timestamp {
                year: 2026,
                month: 11,
                day: 22,
                hour: 2,
                minute: 49,
                second: 30,
                micros: 123456,
                utc_offset: 60
            })
        );
        let iv = DateTime::parse("00000001020304.000005:000").unwrap();
        assert!(iv.is_interval());
        assert_eq!(DateTime::interval(1, 2, 3, 4, 5), iv);
        assert!(DateTime::parse("2026112202493.123456+060").is_err());
        assert!(DateTime::parse("20261322024930.123456+060").is_err());
        assert!(DateTime::parse("2026****024930.******+060").is_ok());
        assert_eq!(
            DateTime::from_unix_seconds(0).as_str(),
            "19700101000000.000000+000"
        );
        assert_eq!(
            DateTime::from_unix_seconds(1_700_000_000).as_str(),
            "20231114221320.000000+000"
        );
    }

    #[test]
    fn real_text_round_trips() {
        for v in [0.1f64, -2.5e-300, 6.02e23, 1.0] {
            let t = Value::Real64(v).to_xml_text().unwrap();
            assert_eq!(
                Value::parse_scalar(&t, &CimType::Real64),
                Ok(Value::Real64(v))
            );
        }
    }
}
