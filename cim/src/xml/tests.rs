//! Element-by-element unit tests of the CIM-XML reader and writer.
