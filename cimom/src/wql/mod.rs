//! WQL.
