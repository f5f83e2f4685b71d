//! CIM-XML reader and writer (being written).
