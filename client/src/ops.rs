//! Typed wrappers for every DSP0200 intrinsic operation, and pull enumerations
//! as batch iterators and streams.
//!
//! Each method builds the [`Operation`] with DSP0200's defaults for the flags
//! it does not take (`LocalOnly=false`, `DeepInheritance=true`,
//! `IncludeQualifiers=false`, `IncludeClassOrigin=false`, no property list)
//! and checks that the answer has the shape the operation promises. For the
//! flags not exposed here, build the [`Operation`] yourself and use
//! [`Client::call`].
//!
//! Paths: operations on an object path use the path's namespace when it has
//! one, else the client's default namespace; operations on a class take the
//! namespace explicitly.

use crate::conn::Client;
use crate::error::{Error, Result};
use cim::ops::{CimObject, Operation, PullItems, PullParams, PullResult, Response};
use cim::{CimName, Class, Instance, ObjectPath, QualifierDecl, Value};
use futures::Stream;

fn unexpected(op: &str, got: &Response) -> Error {
    let shape = format!("{got:?}");
    let shape: String = shape.chars().take(60).collect();
    Error::Protocol {
        operation: op.to_owned(),
        reason: format!("unexpected return value {shape}"),
    }
}

/// Which kind of pull enumeration is open: decides the `Pull*` operation used
/// for the following batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullKind {
    /// `PullInstancesWithPath` (OpenEnumerateInstances, OpenAssociatorInstances, OpenReferenceInstances).
    InstancesWithPath,
    /// `PullInstancePaths` (the `Open*Paths` operations).
    InstancePaths,
    /// `PullInstances` (OpenQueryInstances).
    Instances,
}

/// One item of a pull enumeration.
#[derive(Debug, Clone, PartialEq)]
pub enum PullItem {
    /// An instance (with its `path` for the `*WithPath` kinds).
    Instance(Instance),
    /// An instance path.
    Path(ObjectPath),
}

impl PullItem {
    /// The instance, if this item is one.
    pub fn into_instance(self) -> Option<Instance> {
        match self {
            PullItem::Instance(i) => Some(i),
            PullItem::Path(_) => None,
        }
    }
    /// The path: the item itself, or the instance's path.
    pub fn path(&self) -> Option<&ObjectPath> {
        match self {
            PullItem::Instance(i) => i.path.as_ref(),
            PullItem::Path(p) => Some(p),
        }
    }
}

fn items_of(items: PullItems) -> Vec<PullItem> {
    match items {
        PullItems::InstancesWithPath(v) | PullItems::Instances(v) => {
            v.into_iter().map(PullItem::Instance).collect()
        }
        PullItems::InstancePaths(v) => v.into_iter().map(PullItem::Path).collect(),
        // Only an object manager's own pages are pre-rendered; the XML reader
        // never produces them.
        PullItems::Rendered(_) => Vec::new(),
    }
}

/// An open pull enumeration: the first batch came with the `Open*` response,
/// [`PullEnumeration::next_batch`] fetches the rest. Close it with
/// [`PullEnumeration::close`] when stopping early (the server also expires it
/// after its operation timeout).
#[derive(Debug)]
pub struct PullEnumeration {
    client: Client,
    namespace: String,
    kind: PullKind,
    context: Option<String>,
    pending: Option<Vec<PullItem>>,
    batch_size: u32,
}

impl PullEnumeration {
    fn new(
        client: &Client,
        namespace: &str,
        kind: PullKind,
        first: PullResult,
        batch: u32,
    ) -> Self {
        PullEnumeration {
            client: client.clone(),
            namespace: namespace.to_owned(),
            kind,
            context: if first.end_of_sequence {
                None
            } else {
                first.enumeration_context
            },
            pending: Some(items_of(first.items)),
            batch_size: batch.max(1),
        }
    }

    /// True when the server said `EndOfSequence` and every batch was handed out.
    pub fn is_finished(&self) -> bool {
        self.context.is_none() && self.pending.is_none()
    }

    /// The enumeration context while the sequence is open.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// The next batch, or `None` at the end. Empty batches from the server are skipped.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<PullItem>>> {
        loop {
            if let Some(p) = self.pending.take() {
                if !p.is_empty() {
                    return Ok(Some(p));
                }
            }
            let Some(ctx) = self.context.clone() else {
                return Ok(None);
            };
            let op = match self.kind {
                PullKind::InstancesWithPath => Operation::PullInstancesWithPath {
                    enumeration_context: ctx,
                    max_object_count: self.batch_size,
                },
                PullKind::InstancePaths => Operation::PullInstancePaths {
                    enumeration_context: ctx,
                    max_object_count: self.batch_size,
                },
                PullKind::Instances => Operation::PullInstances {
                    enumeration_context: ctx,
                    max_object_count: self.batch_size,
                },
            };
            let name = op.name();
            let r = match self.client.call(&self.namespace, op).await {
                Ok(Response::Pull(r)) => r,
                Ok(other) => {
                    self.context = None;
                    return Err(unexpected(name, &other));
                }
                Err(e) => {
                    self.context = None;
                    return Err(e);
                }
            };
            self.context = if r.end_of_sequence {
                None
            } else {
                match r.enumeration_context {
                    Some(c) => Some(c),
                    None => {
                        return Err(Error::Protocol {
                            operation: name.to_owned(),
                            reason: "open sequence without EnumerationContext".into(),
                        })
                    }
                }
            };
            self.pending = Some(items_of(r.items));
        }
    }

    /// Every remaining item.
    pub async fn collect_all(mut self) -> Result<Vec<PullItem>> {
        let mut all = Vec::new();
        while let Some(b) = self.next_batch().await? {
            all.extend(b);
        }
        Ok(all)
    }

    /// Closes the enumeration early (`CloseEnumeration`); a finished one needs nothing.
    pub async fn close(mut self) -> Result<()> {
        self.pending = None;
        if let Some(ctx) = self.context.take() {
            let r = self
                .client
                .call(
                    &self.namespace,
                    Operation::CloseEnumeration {
                        enumeration_context: ctx,
                    },
                )
                .await?;
            if r != Response::Empty {
                return Err(unexpected("CloseEnumeration", &r));
            }
        }
        Ok(())
    }

    /// The remaining items one at a time, as a stream.
    pub fn into_stream(self) -> impl Stream<Item = Result<PullItem>> + Send {
        futures::stream::try_unfold(
            (self, std::collections::VecDeque::new()),
            |(mut en, mut buf)| async move {
                loop {
                    if let Some(item) = buf.pop_front() {
                        return Ok(Some((item, (en, buf))));
                    }
                    match en.next_batch().await? {
                        Some(b) => buf.extend(b),
                        None => return Ok(None),
                    }
                }
            },
        )
    }
}

/// Defaults of the `Open*` helpers: batches of 100, server default timeout.
fn pull_params(max_object_count: u32) -> PullParams {
    PullParams {
        max_object_count,
        ..Default::default()
    }
}

impl Client {
    fn ns_of<'a>(&'a self, path: &'a ObjectPath) -> &'a str {
        path.namespace.as_deref().unwrap_or(self.namespace())
    }

    /// `GetClass` with qualifiers (what a client usually wants from a class).
    pub async fn get_class(&self, namespace: &str, class_name: &str) -> Result<Class> {
        let op = Operation::GetClass {
            class_name: class_name.into(),
            local_only: false,
            include_qualifiers: true,
            include_class_origin: false,
            property_list: None,
        };
        match self.call(namespace, op).await? {
            Response::Class(c) => Ok(c),
            other => Err(unexpected("GetClass", &other)),
        }
    }

    /// `EnumerateClasses` (deep, with qualifiers) below `class_name`, or of the whole namespace.
    pub async fn enumerate_classes(
        &self,
        namespace: &str,
        class_name: Option<&str>,
    ) -> Result<Vec<Class>> {
        let op = Operation::EnumerateClasses {
            class_name: class_name.map(CimName::from),
            deep_inheritance: true,
            local_only: false,
            include_qualifiers: true,
            include_class_origin: false,
        };
        match self.call(namespace, op).await? {
            Response::Classes(c) => Ok(c),
            Response::Empty => Ok(Vec::new()),
            other => Err(unexpected("EnumerateClasses", &other)),
        }
    }

    /// `EnumerateClassNames` (deep).
    pub async fn enumerate_class_names(
        &self,
        namespace: &str,
        class_name: Option<&str>,
    ) -> Result<Vec<CimName>> {
        let op = Operation::EnumerateClassNames {
            class_name: class_name.map(CimName::from),
            deep_inheritance: true,
        };
        match self.call(namespace, op).await? {
            Response::ClassNames(c) => Ok(c),
            Response::Empty => Ok(Vec::new()),
            other => Err(unexpected("EnumerateClassNames", &other)),
        }
    }

    /// `CreateClass`.
    pub async fn create_class(&self, namespace: &str, class: Class) -> Result<()> {
        self.expect_empty(namespace, Operation::CreateClass { new_class: class })
            .await
    }

    /// `ModifyClass`.
    pub async fn modify_class(&self, namespace: &str, class: Class) -> Result<()> {
        self.expect_empty(
            namespace,
            Operation::ModifyClass {
                modified_class: class,
            },
        )
        .await
    }

    /// `DeleteClass`.
    pub async fn delete_class(&self, namespace: &str, class_name: &str) -> Result<()> {
        self.expect_empty(
            namespace,
            Operation::DeleteClass {
                class_name: class_name.into(),
            },
        )
        .await
    }

    /// `GetInstance`; the returned instance carries `path` (with the namespace used).
    pub async fn get_instance(&self, path: &ObjectPath) -> Result<Instance> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::GetInstance {
            instance_name: path.local(),
            local_only: false,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        };
        match self.call(&ns, op).await? {
            Response::Instance(mut i) => {
                let mut p = path.local();
                p.namespace = Some(ns);
                i.path = Some(p);
                Ok(i)
            }
            other => Err(unexpected("GetInstance", &other)),
        }
    }

    /// `EnumerateInstances` (deep); every instance carries its path with the namespace set.
    pub async fn enumerate_instances(
        &self,
        namespace: &str,
        class_name: &str,
    ) -> Result<Vec<Instance>> {
        let op = Operation::EnumerateInstances {
            class_name: class_name.into(),
            local_only: false,
            deep_inheritance: true,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        };
        match self.call(namespace, op).await? {
            Response::NamedInstances(mut v) => {
                for p in v.iter_mut().filter_map(|i| i.path.as_mut()) {
                    fill_namespace(p, namespace);
                }
                Ok(v)
            }
            Response::Empty => Ok(Vec::new()),
            other => Err(unexpected("EnumerateInstances", &other)),
        }
    }

    /// `EnumerateInstanceNames`; paths carry the namespace.
    pub async fn enumerate_instance_names(
        &self,
        namespace: &str,
        class_name: &str,
    ) -> Result<Vec<ObjectPath>> {
        let op = Operation::EnumerateInstanceNames {
            class_name: class_name.into(),
        };
        match self.call(namespace, op).await? {
            Response::InstanceNames(mut v) => {
                for p in &mut v {
                    fill_namespace(p, namespace);
                }
                Ok(v)
            }
            Response::Empty => Ok(Vec::new()),
            other => Err(unexpected("EnumerateInstanceNames", &other)),
        }
    }

    /// `CreateInstance`; returns the new instance's path (with the namespace set).
    pub async fn create_instance(&self, namespace: &str, instance: Instance) -> Result<ObjectPath> {
        match self
            .call(
                namespace,
                Operation::CreateInstance {
                    new_instance: instance,
                },
            )
            .await?
        {
            Response::InstanceName(mut p) => {
                fill_namespace(&mut p, namespace);
                Ok(p)
            }
            other => Err(unexpected("CreateInstance", &other)),
        }
    }

    /// `ModifyInstance` of `instance.path` with the given property list (`None` = all given).
    pub async fn modify_instance(
        &self,
        instance: Instance,
        property_list: Option<Vec<CimName>>,
    ) -> Result<()> {
        let path = instance.path.clone().ok_or_else(|| {
            Error::Config("ModifyInstance needs an instance with its path set".into())
        })?;
        let ns = self.ns_of(&path).to_owned();
        let mut modified = instance;
        modified.path = Some(path.local());
        self.expect_empty(
            &ns,
            Operation::ModifyInstance {
                modified_instance: modified,
                include_qualifiers: false,
                property_list,
            },
        )
        .await
    }

    /// `DeleteInstance`.
    pub async fn delete_instance(&self, path: &ObjectPath) -> Result<()> {
        let ns = self.ns_of(path).to_owned();
        self.expect_empty(
            &ns,
            Operation::DeleteInstance {
                instance_name: path.local(),
            },
        )
        .await
    }

    /// `Associators` returning instances (objects that are classes are skipped).
    pub async fn associators(
        &self,
        path: &ObjectPath,
        assoc_class: Option<&str>,
        result_class: Option<&str>,
    ) -> Result<Vec<Instance>> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::Associators {
            object_name: path.local(),
            assoc_class: assoc_class.map(CimName::from),
            result_class: result_class.map(CimName::from),
            role: None,
            result_role: None,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        };
        objects_to_instances("Associators", self.call(&ns, op).await?)
    }

    /// `AssociatorNames`.
    pub async fn associator_names(
        &self,
        path: &ObjectPath,
        assoc_class: Option<&str>,
        result_class: Option<&str>,
    ) -> Result<Vec<ObjectPath>> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::AssociatorNames {
            object_name: path.local(),
            assoc_class: assoc_class.map(CimName::from),
            result_class: result_class.map(CimName::from),
            role: None,
            result_role: None,
        };
        objects_to_paths("AssociatorNames", self.call(&ns, op).await?)
    }

    /// `References` returning association instances.
    pub async fn references(
        &self,
        path: &ObjectPath,
        result_class: Option<&str>,
    ) -> Result<Vec<Instance>> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::References {
            object_name: path.local(),
            result_class: result_class.map(CimName::from),
            role: None,
            include_qualifiers: false,
            include_class_origin: false,
            property_list: None,
        };
        objects_to_instances("References", self.call(&ns, op).await?)
    }

    /// `ReferenceNames`.
    pub async fn reference_names(
        &self,
        path: &ObjectPath,
        result_class: Option<&str>,
    ) -> Result<Vec<ObjectPath>> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::ReferenceNames {
            object_name: path.local(),
            result_class: result_class.map(CimName::from),
            role: None,
        };
        objects_to_paths("ReferenceNames", self.call(&ns, op).await?)
    }

    /// `GetProperty` (NULL comes back as [`Value::Null`]).
    pub async fn get_property(&self, path: &ObjectPath, property: &str) -> Result<Value> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::GetProperty {
            instance_name: path.local(),
            property_name: property.into(),
        };
        match self.call(&ns, op).await? {
            Response::PropertyValue(v) => Ok(v),
            Response::Empty => Ok(Value::Null),
            other => Err(unexpected("GetProperty", &other)),
        }
    }

    /// `SetProperty`.
    pub async fn set_property(
        &self,
        path: &ObjectPath,
        property: &str,
        value: Value,
    ) -> Result<()> {
        let ns = self.ns_of(path).to_owned();
        self.expect_empty(
            &ns,
            Operation::SetProperty {
                instance_name: path.local(),
                property_name: property.into(),
                new_value: value,
            },
        )
        .await
    }

    /// `ExecQuery` (e.g. `WQL`), returning the instances.
    pub async fn exec_query(
        &self,
        namespace: &str,
        language: &str,
        query: &str,
    ) -> Result<Vec<Instance>> {
        let op = Operation::ExecQuery {
            query_language: language.to_owned(),
            query: query.to_owned(),
        };
        objects_to_instances("ExecQuery", self.call(namespace, op).await?)
    }

    /// `GetQualifier`.
    pub async fn get_qualifier(&self, namespace: &str, name: &str) -> Result<QualifierDecl> {
        match self
            .call(
                namespace,
                Operation::GetQualifier {
                    qualifier_name: name.into(),
                },
            )
            .await?
        {
            Response::QualifierDecl(q) => Ok(q),
            other => Err(unexpected("GetQualifier", &other)),
        }
    }

    /// `SetQualifier`.
    pub async fn set_qualifier(&self, namespace: &str, decl: QualifierDecl) -> Result<()> {
        self.expect_empty(
            namespace,
            Operation::SetQualifier {
                qualifier_declaration: decl,
            },
        )
        .await
    }

    /// `DeleteQualifier`.
    pub async fn delete_qualifier(&self, namespace: &str, name: &str) -> Result<()> {
        self.expect_empty(
            namespace,
            Operation::DeleteQualifier {
                qualifier_name: name.into(),
            },
        )
        .await
    }

    /// `EnumerateQualifiers`.
    pub async fn enumerate_qualifiers(&self, namespace: &str) -> Result<Vec<QualifierDecl>> {
        match self.call(namespace, Operation::EnumerateQualifiers).await? {
            Response::QualifierDecls(v) => Ok(v),
            Response::Empty => Ok(Vec::new()),
            other => Err(unexpected("EnumerateQualifiers", &other)),
        }
    }

    /// Runs any `Open*` operation and wraps its answer; `batch` is the
    /// `MaxObjectCount` of the following `Pull*` requests.
    pub async fn open(
        &self,
        namespace: &str,
        operation: Operation,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let kind = match &operation {
            Operation::OpenEnumerateInstances { .. }
            | Operation::OpenAssociatorInstances { .. }
            | Operation::OpenReferenceInstances { .. } => PullKind::InstancesWithPath,
            Operation::OpenEnumerateInstancePaths { .. }
            | Operation::OpenAssociatorInstancePaths { .. }
            | Operation::OpenReferenceInstancePaths { .. } => PullKind::InstancePaths,
            Operation::OpenQueryInstances { .. } => PullKind::Instances,
            other => {
                return Err(Error::Config(format!(
                    "{} is not an Open operation",
                    other.name()
                )))
            }
        };
        let name = operation.name();
        match self.call(namespace, operation).await? {
            Response::Pull(r) => Ok(PullEnumeration::new(self, namespace, kind, r, batch)),
            other => Err(unexpected(name, &other)),
        }
    }

    /// `OpenEnumerateInstances` (deep) with batches of `batch` instances.
    pub async fn open_enumerate_instances(
        &self,
        namespace: &str,
        class_name: &str,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let op = Operation::OpenEnumerateInstances {
            class_name: class_name.into(),
            deep_inheritance: true,
            include_class_origin: false,
            property_list: None,
            pull: pull_params(batch),
        };
        self.open(namespace, op, batch).await
    }

    /// `OpenEnumerateInstancePaths` with batches of `batch` paths.
    pub async fn open_enumerate_instance_paths(
        &self,
        namespace: &str,
        class_name: &str,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let op = Operation::OpenEnumerateInstancePaths {
            class_name: class_name.into(),
            pull: pull_params(batch),
        };
        self.open(namespace, op, batch).await
    }

    /// `OpenAssociatorInstances`.
    pub async fn open_associator_instances(
        &self,
        path: &ObjectPath,
        assoc_class: Option<&str>,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::OpenAssociatorInstances {
            instance_name: path.local(),
            assoc_class: assoc_class.map(CimName::from),
            result_class: None,
            role: None,
            result_role: None,
            include_class_origin: false,
            property_list: None,
            pull: pull_params(batch),
        };
        self.open(&ns, op, batch).await
    }

    /// `OpenAssociatorInstancePaths`.
    pub async fn open_associator_instance_paths(
        &self,
        path: &ObjectPath,
        assoc_class: Option<&str>,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::OpenAssociatorInstancePaths {
            instance_name: path.local(),
            assoc_class: assoc_class.map(CimName::from),
            result_class: None,
            role: None,
            result_role: None,
            pull: pull_params(batch),
        };
        self.open(&ns, op, batch).await
    }

    /// `OpenReferenceInstances`.
    pub async fn open_reference_instances(
        &self,
        path: &ObjectPath,
        result_class: Option<&str>,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::OpenReferenceInstances {
            instance_name: path.local(),
            result_class: result_class.map(CimName::from),
            role: None,
            include_class_origin: false,
            property_list: None,
            pull: pull_params(batch),
        };
        self.open(&ns, op, batch).await
    }

    /// `OpenReferenceInstancePaths`.
    pub async fn open_reference_instance_paths(
        &self,
        path: &ObjectPath,
        result_class: Option<&str>,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let ns = self.ns_of(path).to_owned();
        let op = Operation::OpenReferenceInstancePaths {
            instance_name: path.local(),
            result_class: result_class.map(CimName::from),
            role: None,
            pull: pull_params(batch),
        };
        self.open(&ns, op, batch).await
    }

    /// `OpenQueryInstances` (e.g. `WQL`).
    pub async fn open_query_instances(
        &self,
        namespace: &str,
        language: &str,
        query: &str,
        batch: u32,
    ) -> Result<PullEnumeration> {
        let op = Operation::OpenQueryInstances {
            filter_query_language: language.to_owned(),
            filter_query: query.to_owned(),
            return_query_result_class: false,
            pull: pull_params(batch),
        };
        self.open(namespace, op, batch).await
    }

    /// `EnumerationCount` of an open enumeration (`None` when the server does not know).
    pub async fn enumeration_count(&self, namespace: &str, context: &str) -> Result<Option<u64>> {
        let op = Operation::EnumerationCount {
            enumeration_context: context.to_owned(),
        };
        match self.call(namespace, op).await? {
            Response::Count(c) => Ok(c),
            Response::Empty => Ok(None),
            other => Err(unexpected("EnumerationCount", &other)),
        }
    }

    async fn expect_empty(&self, namespace: &str, op: Operation) -> Result<()> {
        let name = op.name();
        match self.call(namespace, op).await? {
            Response::Empty => Ok(()),
            other => Err(unexpected(name, &other)),
        }
    }
}

/// Gives a path the namespace it was asked in, unless the server named one.
fn fill_namespace(path: &mut ObjectPath, namespace: &str) {
    if path.namespace.is_none() {
        path.namespace = Some(namespace.to_owned());
    }
}

/// The answer of AssociatorNames and ReferenceNames (none when empty).
fn objects_to_paths(op: &str, r: Response) -> Result<Vec<ObjectPath>> {
    match r {
        Response::ObjectPaths(v) => Ok(v),
        Response::Empty => Ok(Vec::new()),
        other => Err(unexpected(op, &other)),
    }
}

fn objects_to_instances(op: &str, r: Response) -> Result<Vec<Instance>> {
    match r {
        Response::ObjectsWithPath(v) => Ok(v
            .into_iter()
            .filter_map(|(path, obj)| match obj {
                CimObject::Instance(mut i) => {
                    i.path = Some(path);
                    Some(i)
                }
                CimObject::Class(_) => None,
            })
            .collect()),
        Response::NamedInstances(v) => Ok(v),
        Response::Empty => Ok(Vec::new()),
        other => Err(unexpected(op, &other)),
    }
}
