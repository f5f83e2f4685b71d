//! Instance operations: GetInstance, EnumerateInstances,
//! EnumerateInstanceNames, CreateInstance, ModifyInstance, DeleteInstance,
//! GetProperty, SetProperty — routed per class ([`super::route`]) and
//! shaped per DSP0200 ([`super::filter`]).
//!
//! Static instances are normalised before they are stored: every property
//! must exist in the class (`CIM_ERR_NO_SUCH_PROPERTY`), values are converted
//! to the declared type (`CIM_ERR_TYPE_MISMATCH` when impossible), missing
//! properties take the class default, and every key must have a value.

use super::filter::InstanceShape;
use super::route::{self, call, provider_ctx, Source};
use super::{Cimom, RequestCtx};
use cim::ops::{Operation, Response};
use cim::{CimError, CimName, CimType, Class, Instance, ObjectPath, Property, StatusCode, Value};
use std::sync::Arc;

pub(super) async fn handle(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    op: Operation,
) -> Result<Response, CimError> {
    let repo = &cimom.inner().repo;
    match op {
        Operation::GetInstance {
            instance_name,
            local_only: _,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let (mut inst, class) = route::get(cimom, ctx, ns, &instance_name).await?;
            let shape = InstanceShape {
                include_qualifiers,
                include_class_origin,
                property_list: property_list.as_deref(),
                restrict_to: None,
            };
            shape.apply(&mut inst, Some(&class));
            Ok(Response::Instance(inst))
        }
        Operation::EnumerateInstances {
            class_name,
            local_only: _,
            deep_inheritance,
            include_qualifiers,
            include_class_origin,
            property_list,
        } => {
            let class = repo.class_for_instances(ns, class_name.as_str())?;
            let insts = route::enumerate_shared(cimom, ctx, ns, &class).await?;
            let shape = InstanceShape {
                include_qualifiers,
                include_class_origin,
                property_list: property_list.as_deref(),
                restrict_to: (!deep_inheritance).then_some(&*class),
            };
            Ok(Response::SharedNamedInstances(shape_all_shared(
                cimom, ns, insts, &shape,
            )))
        }
        Operation::EnumerateInstanceNames { class_name } => {
            let class = repo.class_for_instances(ns, class_name.as_str())?;
            Ok(Response::InstanceNames(
                route::enumerate_names(cimom, ctx, ns, &class).await?,
            ))
        }
        Operation::CreateInstance { new_instance } => {
            let path = create(cimom, ctx, ns, new_instance).await?;
            Ok(Response::InstanceName(path))
        }
        Operation::ModifyInstance {
            modified_instance,
            include_qualifiers: _,
            property_list,
        } => {
            modify(cimom, ctx, ns, modified_instance, property_list).await?;
            Ok(Response::Empty)
        }
        Operation::DeleteInstance { instance_name } => {
            delete(cimom, ctx, ns, &instance_name).await?;
            Ok(Response::Empty)
        }
        Operation::GetProperty {
            instance_name,
            property_name,
        } => {
            let (inst, class) = route::get(cimom, ctx, ns, &instance_name).await?;
            if class.property(property_name.as_str()).is_none() {
                return Err(no_such_property(&class, &property_name));
            }
            Ok(Response::PropertyValue(
                inst.get(property_name.as_str())
                    .cloned()
                    .unwrap_or(Value::Null),
            ))
        }
        Operation::SetProperty {
            instance_name,
            property_name,
            new_value,
        } => {
            let class = repo.class_for_instances(ns, instance_name.class_name.as_str())?;
            let decl = class
                .property(property_name.as_str())
                .ok_or_else(|| no_such_property(&class, &property_name))?;
            let mut inst = Instance::new(instance_name.class_name.clone());
            inst.set(decl.name.as_str(), decl.ty.clone(), new_value);
            inst.path = Some(instance_name);
            modify(cimom, ctx, ns, inst, Some(vec![property_name])).await?;
            Ok(Response::Empty)
        }
        other => Err(CimError::not_supported(format!(
            "{} is not an instance operation",
            other.name()
        ))),
    }
}

/// Shapes enumerated instances, each against its own class.
pub(crate) fn shape_all(
    cimom: &Cimom,
    ns: &str,
    mut insts: Vec<Instance>,
    shape: &InstanceShape<'_>,
) -> Vec<Instance> {
    let repo = &cimom.inner().repo;
    let mut last: Option<Arc<Class>> = None;
    for i in &mut insts {
        if last.as_ref().is_none_or(|c| c.name != i.class_name) {
            last = repo.get_class(ns, i.class_name.as_str());
        }
        shape.apply(i, last.as_deref());
    }
    insts
}

/// [`shape_all`] for shared instances: those the shape leaves unchanged (the
/// common case: stored instances and no parameters) are kept shared, the
/// others are copied and shaped.
pub(crate) fn shape_all_shared(
    cimom: &Cimom,
    ns: &str,
    mut insts: Vec<Arc<Instance>>,
    shape: &InstanceShape<'_>,
) -> Vec<Arc<Instance>> {
    let repo = &cimom.inner().repo;
    let mut last: Option<Arc<Class>> = None;
    for i in &mut insts {
        if shape.leaves_unchanged(i) {
            continue;
        }
        if last.as_ref().is_none_or(|c| c.name != i.class_name) {
            last = repo.get_class(ns, i.class_name.as_str());
        }
        shape.apply(Arc::make_mut(i), last.as_deref());
    }
    insts
}

pub(crate) fn no_such_property(class: &Class, name: &CimName) -> CimError {
    CimError::new(
        StatusCode::NoSuchProperty,
        format!("class {} has no property {name}", class.name),
    )
}

/// Converts a value to a declared type, or `None` when it cannot be.
pub(crate) fn coerce(v: Value, ty: &CimType, is_array: bool) -> Option<Value> {
    match v {
        Value::Null => Some(Value::Null),
        Value::Array(items) => {
            if !is_array {
                return None;
            }
            items
                .into_iter()
                .map(|i| coerce(i, ty, false))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array)
        }
        _ if is_array => None,
        v => coerce_scalar(v, ty),
    }
}

fn coerce_scalar(v: Value, ty: &CimType) -> Option<Value> {
    match (ty, v) {
        (CimType::Reference(_), v @ Value::Reference(_)) => Some(v),
        (CimType::Reference(_), Value::String(s)) => {
            ObjectPath::parse(&s).ok().map(Value::Reference)
        }
        (
            CimType::EmbeddedInstance | CimType::EmbeddedObject,
            v @ (Value::Instance(_) | Value::Class(_)),
        ) => Some(v),
        (CimType::EmbeddedInstance | CimType::EmbeddedObject, Value::String(s)) => {
            cim::xml::read_instance(&s, &cim::xml::Limits::default())
                .ok()
                .map(|i| Value::Instance(Box::new(i)))
        }
        (CimType::String, v @ Value::String(_)) => Some(v),
        (CimType::String, Value::Char16(c)) => Some(Value::String(c.to_string())),
        (t, Value::String(s)) if !t.is_string_like() => Value::parse_scalar(&s, t).ok(),
        (t, v) if t.is_integer() => v.as_i128().and_then(|i| Value::from_i128(i, t)),
        (CimType::Real32, v) => v.as_f64().map(|f| Value::Real32(f as f32)),
        (CimType::Real64, v) => v.as_f64().map(Value::Real64),
        (CimType::Boolean, v @ Value::Boolean(_)) => Some(v),
        (CimType::Char16, v @ Value::Char16(_)) => Some(v),
        (CimType::DateTime, v @ Value::DateTime(_)) => Some(v),
        _ => None,
    }
}

/// The path with its class name and key names spelled as in the class and
/// key values converted to the declared key types (a client may send a
/// numeric key as text), so that lookups by canonical key match.
pub(crate) fn typed_path(class: &Class, path: &ObjectPath) -> ObjectPath {
    let mut p = path.clone();
    p.class_name = class.name.clone();
    for k in &mut p.keys {
        if let Some(d) = class.property(k.name.as_str()) {
            if let Some(v) = coerce(k.value.clone(), &d.ty, false) {
                k.value = v;
            }
            k.name = d.name.clone();
        }
    }
    p
}

/// Builds the stored form of a static instance of `class` (see the module doc).
pub(crate) fn normalize(
    class: &Class,
    inst: &Instance,
    ns_name: &str,
) -> Result<Instance, CimError> {
    for p in &inst.properties {
        if class.property(p.name.as_str()).is_none() {
            return Err(no_such_property(class, &p.name));
        }
    }
    let mut out = Instance::new(class.name.clone());
    for decl in &class.properties {
        let value = match inst.property(decl.name.as_str()) {
            Some(p) => coerce(p.value.clone(), &decl.ty, decl.is_array).ok_or_else(|| {
                CimError::new(
                    StatusCode::TypeMismatch,
                    format!(
                        "value of property {} does not fit its type {}{}",
                        decl.name,
                        decl.ty,
                        if decl.is_array { "[]" } else { "" }
                    ),
                )
            })?,
            None => decl.value.clone(),
        };
        out.properties.push(Property {
            name: decl.name.clone(),
            ty: decl.ty.clone(),
            is_array: decl.is_array,
            array_size: decl.array_size,
            value,
            qualifiers: Vec::new(),
            class_origin: None,
            propagated: false,
        });
    }
    for k in class.keys() {
        if out.get(k.name.as_str()).is_none_or(Value::is_null) {
            return Err(CimError::invalid_parameter(format!(
                "key property {} of class {} has no value",
                k.name, class.name
            )));
        }
    }
    out.path = Some(out.path_from_class(class, Some(ns_name)));
    Ok(out)
}

async fn create(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    mut inst: Instance,
) -> Result<ObjectPath, CimError> {
    let repo = &cimom.inner().repo;
    let class = repo.class_for_instances(ns, inst.class_name.as_str())?;
    if class
        .qualifiers
        .iter()
        .any(|q| q.name.is("Abstract") && q.value.as_bool() == Some(true) && !q.propagated)
    {
        return Err(CimError::new(
            StatusCode::InvalidClass,
            format!("class {} is abstract and cannot have instances", class.name),
        ));
    }
    let ns_name = repo.namespace_name(ns);
    match route::source_of(cimom, ns, &class) {
        Source::Provider(name, entry) => {
            for p in &inst.properties {
                if class.property(p.name.as_str()).is_none() {
                    return Err(no_such_property(&class, &p.name));
                }
            }
            let p = entry.instance.clone().ok_or_else(|| {
                CimError::not_supported(format!("provider {name} does not create instances"))
            })?;
            let pctx = provider_ctx(cimom, ctx, ns);
            let cc = class.clone();
            let mut path = call(cimom, &name, "CreateInstance", async move {
                p.create_instance(&pctx, &cc, inst).await
            })
            .await?;
            path.namespace = Some(ns_name);
            path.host = None;
            Ok(path)
        }
        Source::Missing(name) => Err(CimError::failed(format!(
            "provider {name} of class {} is not registered",
            class.name
        ))),
        Source::Internal => crate::interop::create_internal(cimom, ns, &class, inst),
        Source::Repository => {
            crate::interop::prepare_create(cimom, ns, &class, &mut inst)?;
            let stored = normalize(&class, &inst, &ns_name)?;
            crate::interop::validate_create(cimom, ns, &class, &stored)?;
            repo.create_instance(ns, &stored)?;
            if crate::interop::affects_subscriptions(cimom, ns, class.name.as_str()) {
                cimom.bump_subscriptions();
                tracing::info!(class = %class.name, "subscription object created");
            }
            Ok(stored.path.expect("normalize sets the path"))
        }
    }
}

async fn modify(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    mut inst: Instance,
    property_list: Option<Vec<CimName>>,
) -> Result<(), CimError> {
    let repo = &cimom.inner().repo;
    let path = inst
        .path
        .clone()
        .ok_or_else(|| CimError::invalid_parameter("ModifiedInstance has no instance name"))?;
    let class = repo.class_for_instances(ns, path.class_name.as_str())?;
    let path = typed_path(&class, &path);
    for p in &inst.properties {
        if class.property(p.name.as_str()).is_none() {
            return Err(no_such_property(&class, &p.name));
        }
    }
    if let Some(l) = &property_list {
        for n in l {
            if class.property(n.as_str()).is_none() {
                return Err(no_such_property(&class, n));
            }
        }
    }
    match route::source_of(cimom, ns, &class) {
        Source::Provider(name, entry) => {
            let p = entry.instance.clone().ok_or_else(|| {
                CimError::not_supported(format!("provider {name} does not modify instances"))
            })?;
            let pctx = provider_ctx(cimom, ctx, ns);
            let cc = class.clone();
            let mut target = path.local();
            target.namespace = Some(repo.namespace_name(ns));
            inst.path = Some(target);
            call(cimom, &name, "ModifyInstance", async move {
                p.modify_instance(&pctx, &cc, inst, property_list.as_deref())
                    .await
            })
            .await
        }
        Source::Missing(name) => Err(CimError::failed(format!(
            "provider {name} of class {} is not registered",
            class.name
        ))),
        Source::Internal => Err(CimError::not_supported(format!(
            "instances of {} cannot be modified",
            class.name
        ))),
        Source::Repository => {
            let mut old = repo
                .get_instance(ns, &path)
                .map_err(|e| e.to_cim())?
                .ok_or_else(|| {
                    CimError::not_found(format!("instance {} does not exist", path.local()))
                })?;
            // Properties to change: the property list, else every property sent.
            let names: Vec<CimName> = match &property_list {
                Some(l) => l.clone(),
                None => inst.properties.iter().map(|p| p.name.clone()).collect(),
            };
            for n in names {
                let decl = class
                    .property(n.as_str())
                    .ok_or_else(|| no_such_property(&class, &n))?;
                let new = inst.get(n.as_str()).cloned().unwrap_or(Value::Null);
                let new = coerce(new, &decl.ty, decl.is_array).ok_or_else(|| {
                    CimError::new(
                        StatusCode::TypeMismatch,
                        format!("value of property {n} does not fit its type {}", decl.ty),
                    )
                })?;
                if decl.is_key() {
                    if old.get(n.as_str()) != Some(&new) {
                        return Err(CimError::invalid_parameter(format!(
                            "key property {n} of {} cannot be modified",
                            path.local()
                        )));
                    }
                    continue;
                }
                old.set(decl.name.as_str(), decl.ty.clone(), new);
            }
            old.path = Some(path.local());
            repo.replace_instance(ns, &old)?;
            if crate::interop::affects_subscriptions(cimom, ns, class.name.as_str()) {
                cimom.bump_subscriptions();
            }
            Ok(())
        }
    }
}

async fn delete(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    path: &ObjectPath,
) -> Result<(), CimError> {
    let repo = &cimom.inner().repo;
    let class = repo.class_for_instances(ns, path.class_name.as_str())?;
    let path = &typed_path(&class, path);
    match route::source_of(cimom, ns, &class) {
        Source::Provider(name, entry) => {
            let p = entry.instance.clone().ok_or_else(|| {
                CimError::not_supported(format!("provider {name} does not delete instances"))
            })?;
            let pctx = provider_ctx(cimom, ctx, ns);
            let cc = class.clone();
            let mut target = path.local();
            target.namespace = Some(repo.namespace_name(ns));
            call(cimom, &name, "DeleteInstance", async move {
                p.delete_instance(&pctx, &cc, &target).await
            })
            .await
        }
        Source::Missing(name) => Err(CimError::failed(format!(
            "provider {name} of class {} is not registered",
            class.name
        ))),
        Source::Internal => crate::interop::delete_internal(cimom, ns, &class, path),
        Source::Repository => {
            crate::interop::check_delete(cimom, ns, &class, path)?;
            repo.delete_instance(ns, path)?;
            if crate::interop::affects_subscriptions(cimom, ns, class.name.as_str()) {
                cimom.bump_subscriptions();
                tracing::info!(class = %class.name, "subscription object deleted");
            }
            Ok(())
        }
    }
}
