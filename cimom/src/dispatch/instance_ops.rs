//! Instance operations: GetInstance, EnumerateInstances,
//! EnumerateInstanceNames, CreateInstance, ModifyInstance, DeleteInstance,
//! GetProperty, SetProperty — routed per class ([`super::route`]) and
//! shaped per DSP0200 ([`super::filter`]).
//! Static instances follow the rules of [`crate::static_instances`].

use super::filter::InstanceShape;
use super::route::{self, call, provider_ctx, Source};
use crate::core::{Cimom, RequestCtx};
use crate::static_instances;
pub(crate) use crate::static_instances::{no_such_property, normalize, typed_path};
use cim::ops::{Operation, Response};
use cim::{CimError, CimName, Class, Instance, ObjectPath, StatusCode, Value};
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

async fn create(
    cimom: &Cimom,
    ctx: &RequestCtx,
    ns: &str,
    inst: Instance,
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
        Source::Repository => {
            let stored = normalize(&class, &inst, &ns_name)?;
            repo.create_instance(ns, &stored)?;
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
        Source::Repository => {
            static_instances::modify(repo, ns, &class, &path, &inst, property_list.as_deref())
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
        Source::Repository => {
            repo.delete_instance(ns, path)?;
            Ok(())
        }
    }
}
