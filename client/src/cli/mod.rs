//! iiadm command line (being written).
