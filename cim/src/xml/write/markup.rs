//! The writer's markup primitives: raw output, text and attribute escaping
//! (with the fast scan for characters that need it), attributes, open and
//! close tags.

#[inline]
pub(super) fn raw(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// Appends `s` escaped for use in text content or a double-quoted attribute.
pub(super) fn escape(out: &mut Vec<u8>, s: &str) {
    escape_impl(out, s, false)
}

/// Appends `s` escaped for a double-quoted attribute value: tab and line feed
/// become character references too, so attribute-value normalization (XML 1.0
/// §3.3.3) does not turn them into spaces.
pub(super) fn escape_attr(out: &mut Vec<u8>, s: &str) {
    escape_impl(out, s, true)
}

/// Index of the first byte that `escape_impl` may have to replace: a control
/// character (below 0x20, which covers tab, LF and CR), `<`, `>`, `&`, `"`, or
/// 0xEF (the lead byte of U+FFFE/U+FFFF). Scans eight bytes at a time, since
/// most strings need no escaping at all and this runs for every value written.
pub(super) fn first_special(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit set in each byte of `x` that is zero (exact for the lowest one).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(chunk);
        // Bytes below 0x20: subtracting 0x20 borrows into the high bit, and
        // `!x` excludes bytes that already had it (non-ASCII).
        let controls = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let hits = controls
            | zero_bytes(x ^ (ONES * u64::from(b'<')))
            | zero_bytes(x ^ (ONES * u64::from(b'>')))
            | zero_bytes(x ^ (ONES * u64::from(b'&')))
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * 0xEF));
        if hits != 0 {
            // Borrows can flag a byte after a true hit, never before one, so
            // the lowest flag is the first candidate; the byte loop re-checks.
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    // The tail (and short strings, such as most names) byte by byte, so that a
    // clean string is always copied in one piece.
    bytes[i..]
        .iter()
        .position(|&b| b < 0x20 || matches!(b, b'<' | b'>' | b'&' | b'"' | 0xEF))
        .map_or(bytes.len(), |p| i + p)
}

pub(super) fn escape_impl(out: &mut Vec<u8>, s: &str, in_attr: bool) {
    let bytes = s.as_bytes();
    let first = first_special(bytes);
    if first == bytes.len() {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(first) {
        let rep: &[u8] = match b {
            b'\t' if in_attr => b"&#9;",
            b'\n' if in_attr => b"&#10;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' => b"&quot;",
            b'\r' => b"&#13;",
            // Other C0 controls, U+FFFE and U+FFFF are not XML 1.0 characters
            // at all, not even as references (expat, hence pywbem, and libxml2
            // reject `&#1;`): they become U+FFFD REPLACEMENT CHARACTER.
            0..=8 | 11 | 12 | 14..=31 => "\u{FFFD}".as_bytes(),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice("\u{FFFD}".as_bytes());
                start = i + 3;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// ` NAME="value"` with the value escaped.
#[inline]
pub(super) fn attr(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(b' ');
    raw(out, name);
    raw(out, "=\"");
    escape_attr(out, value);
    out.push(b'"');
}

/// ` NAME="value"` for a value known to need no escaping (a type name).
#[inline]
pub(super) fn attr_static(out: &mut Vec<u8>, name: &str, value: &'static str) {
    debug_assert_eq!(first_special(value.as_bytes()), value.len());
    out.push(b' ');
    raw(out, name);
    raw(out, "=\"");
    raw(out, value);
    out.push(b'"');
}

#[inline]
pub(super) fn attr_bool(out: &mut Vec<u8>, name: &str, value: bool) {
    attr(out, name, if value { "true" } else { "false" });
}

#[inline]
pub(super) fn open(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    raw(out, name);
}

#[inline]
pub(super) fn close(out: &mut Vec<u8>, name: &str) {
    raw(out, "</");
    raw(out, name);
    out.push(b'>');
}

/// `<NAME>escaped text</NAME>`.
pub(super) fn text_element(out: &mut Vec<u8>, name: &str, text: &str) {
    open(out, name);
    out.push(b'>');
    escape(out, text);
    close(out, name);
}

#[cfg(test)]
mod escape_tests {
    use super::*;

    fn slow_first_special(bytes: &[u8]) -> usize {
        bytes
            .iter()
            .position(|&b| b < 0x20 || matches!(b, b'<' | b'>' | b'&' | b'"' | 0xEF))
            .unwrap_or(bytes.len())
    }

    #[test]
    fn fast_scan_never_skips_a_byte_that_needs_escaping() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain text without anything".to_vec(),
            b"0123456<".to_vec(),
            b"01234567<".to_vec(),
            b"a\tb".to_vec(),
            b"\x1f\x20\x21".to_vec(),
            "caf\u{e9} \u{ffff} end".as_bytes().to_vec(),
            b"\x7f\x80\x81 & more".to_vec(),
            b"\"quoted\"".to_vec(),
        ];
        // Every special byte at every offset of a 17-byte string.
        for special in [0u8, b'\n', 0x1f, b'<', b'>', b'&', b'"', 0xEF] {
            for at in 0..17 {
                let mut s = vec![b'x'; 17];
                s[at] = special;
                samples.push(s);
            }
        }
        for s in &samples {
            let fast = first_special(s);
            let slow = slow_first_special(s);
            // The fast scan stops at the first candidate chunk or the tail,
            // never after a byte that needs escaping.
            assert!(fast <= slow, "{s:?}: {fast} > {slow}");
            // A clean string is reported clean (copied in one piece).
            if slow == s.len() {
                assert_eq!(fast, s.len(), "{s:?}");
            }
        }
        let mut out = Vec::new();
        escape_impl(&mut out, "a<b>&\"c\u{ffff}\u{1}\t", true);
        assert_eq!(out, "a&lt;b&gt;&amp;&quot;c\u{FFFD}\u{FFFD}&#9;".as_bytes());
        out.clear();
        escape_impl(&mut out, "a long string with no specials at all", false);
        assert_eq!(out, b"a long string with no specials at all");
    }
}
