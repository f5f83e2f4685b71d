//! The crate's error type: why a CIM-XML document could not be read.

/// A CIM-XML decoding failure. Every variant says where (element name and byte
/// position) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is not well-formed XML (or not UTF-8).
    #[error("malformed XML at byte {position}: {reason}")]
    Xml {
        /// Byte offset in the document.
        position: u64,
        /// What the XML parser reported.
        reason: String,
    },
    /// Well-formed XML that breaks DSP0201 (unexpected element, missing attribute,
    /// value that does not parse as its declared type, ...).
    #[error("invalid CIM-XML in <{element}> at byte {position}: {reason}")]
    Cim {
        /// The element being decoded.
        element: String,
        /// Byte offset in the document.
        position: u64,
        /// What is wrong.
        reason: String,
    },
    /// A configured limit (size, depth, element count) was exceeded.
    #[error("CIM-XML document exceeds the {limit} limit")]
    Limit {
        /// Which limit.
        limit: &'static str,
    },
}
