//! CIM-XML writer (DSP0201 2.4): renders the model straight into a byte buffer.
//!
//! Output conventions, chosen so that pywbem's strict tuple parser and
//! OpenPegasus accept it:
//!
//! * No whitespace between elements; attributes in DSP0201's order; every
//!   attribute value and text escaped (`&lt; &gt; &amp; &quot;`, `&#13;` for
//!   CR so that line-end normalization keeps it, and `&#9;`/`&#10;` in
//!   attributes so that attribute-value normalization does).
//! * Characters XML 1.0 cannot carry at all (C0 controls other than tab, LF
//!   and CR; U+FFFE; U+FFFF) are replaced by U+FFFD: strict parsers (expat in
//!   pywbem, libxml2) refuse them even as character references.
//! * Booleans `TRUE`/`FALSE`, reals in Rust's shortest round-trip form.
//! * A scalar NULL property is the property element without `VALUE`; a NULL
//!   array element is `VALUE.NULL`.
//! * Embedded instances and classes are `TYPE="string"` with
//!   `EmbeddedObject="instance"`/`"object"` and the escaped `INSTANCE`/`CLASS`
//!   text as the `VALUE`.
//! * References choose their path element by what the [`ObjectPath`](crate::path::ObjectPath) holds:
//!   host and namespace → `INSTANCEPATH` (`CLASSPATH` without keys), namespace
//!   only → `LOCALINSTANCEPATH` (`LOCALCLASSPATH`), neither → `INSTANCENAME`
//!   (`CLASSNAME`). A keyless path is therefore written as a class path.

mod classes;
mod instances;
mod markup;
mod message;
mod paths;
mod qualifiers;
mod requests;
mod responses;
mod values;

pub use classes::{write_class, write_class_shaped, ClassShape};
pub(super) use instances::write_value_named_instance;
pub use instances::{write_instance, write_value_instance_with_path};
pub(super) use message::write_message;
pub use paths::{write_class_name, write_instance_name, write_instance_path, write_object_path};
pub use qualifiers::write_qualifier_decl;
pub(super) use responses::{write_imethod_response_head, write_imethod_response_tail};
pub use responses::{write_pull_response_tail, write_return_value_items};
pub use values::write_value;
