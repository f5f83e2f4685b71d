//! CIM-XML reader (being written).
use super::Limits;
use crate::class::Class;
use crate::error::Error;
use crate::instance::Instance;
use crate::ops::Message;
use crate::path::ObjectPath;
use crate::qualifier::QualifierDecl;

fn todo_err() -> Error {
    Error::Cim { element: "CIM".into(), position: 0, reason: "reader not yet implemented".into() }
}
pub(super) fn read_message(_input: &[u8], _limits: &Limits) -> Result<Message, Error> { Err(todo_err()) }
pub(super) fn read_instance(_xml: &str, _limits: &Limits) -> Result<Instance, Error> { Err(todo_err()) }
pub(super) fn read_class(_xml: &str, _limits: &Limits) -> Result<Class, Error> { Err(todo_err()) }
pub(super) fn read_qualifier_decl(_xml: &str, _limits: &Limits) -> Result<QualifierDecl, Error> { Err(todo_err()) }
pub(super) fn read_object_path(_xml: &str, _limits: &Limits) -> Result<ObjectPath, Error> { Err(todo_err()) }
