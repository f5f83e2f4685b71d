//! Blocking wrappers for scripts and simple programs: each owns a
//! current-thread tokio runtime and runs the async calls to completion.
//!
//! Do not use these from inside an async runtime (tokio refuses nested
//! `block_on`); use [`crate::Client`] / [`crate::IiHost`] there.

use crate::conn::{Client, ClientConfig};
use crate::error::{Error, Result};
use crate::ii::{GroupInfo, IiHost, OverflowInfo, SetHandle, SetInfo, SetSpec, VolumeInfo};
use crate::ops::{PullEnumeration, PullItem};
use cim::ops::{MethodResult, Operation, ParamValue, Response};
use cim::{Instance, ObjectPath};
use std::future::Future;
use tokio::runtime::Runtime;

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Config(format!("cannot start the tokio runtime: {e}")))
}

/// A blocking CIM client.
#[derive(Debug)]
pub struct BlockingClient {
    rt: Runtime,
    client: Client,
}

impl BlockingClient {
    /// Builds the client and its runtime.
    pub fn new(config: ClientConfig) -> Result<BlockingClient> {
        Ok(BlockingClient {
            rt: runtime()?,
            client: Client::new(config)?,
        })
    }

    /// The async client (for use through [`BlockingClient::block_on`]).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs any future on the owned runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// [`Client::call`].
    pub fn call(&self, namespace: &str, op: Operation) -> Result<Response> {
        self.rt.block_on(self.client.call(namespace, op))
    }

    /// [`Client::invoke`].
    pub fn invoke(
        &self,
        target: &ObjectPath,
        method: &str,
        params: Vec<ParamValue>,
    ) -> Result<MethodResult> {
        self.rt.block_on(self.client.invoke(target, method, params))
    }

    /// [`Client::get_instance`].
    pub fn get_instance(&self, path: &ObjectPath) -> Result<Instance> {
        self.rt.block_on(self.client.get_instance(path))
    }

    /// [`Client::enumerate_instances`].
    pub fn enumerate_instances(&self, namespace: &str, class: &str) -> Result<Vec<Instance>> {
        self.rt
            .block_on(self.client.enumerate_instances(namespace, class))
    }

    /// [`Client::create_instance`].
    pub fn create_instance(&self, namespace: &str, inst: Instance) -> Result<ObjectPath> {
        self.rt
            .block_on(self.client.create_instance(namespace, inst))
    }

    /// [`Client::delete_instance`].
    pub fn delete_instance(&self, path: &ObjectPath) -> Result<()> {
        self.rt.block_on(self.client.delete_instance(path))
    }

    /// Opens a pull enumeration and returns a blocking iterator over its items.
    pub fn pull(&self, namespace: &str, op: Operation, batch: u32) -> Result<PullIter<'_>> {
        let en = self.rt.block_on(self.client.open(namespace, op, batch))?;
        Ok(PullIter {
            rt: &self.rt,
            en: Some(en),
            buf: Default::default(),
        })
    }
}

/// A blocking iterator over a pull enumeration; dropping it early closes the
/// enumeration on the server.
pub struct PullIter<'a> {
    rt: &'a Runtime,
    en: Option<PullEnumeration>,
    buf: std::collections::VecDeque<PullItem>,
}

impl Iterator for PullIter<'_> {
    type Item = Result<PullItem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(i) = self.buf.pop_front() {
                return Some(Ok(i));
            }
            let en = self.en.as_mut()?;
            match self.rt.block_on(en.next_batch()) {
                Ok(Some(b)) => self.buf.extend(b),
                Ok(None) => {
                    self.en = None;
                    return None;
                }
                Err(e) => {
                    self.en = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Drop for PullIter<'_> {
    fn drop(&mut self) {
        if let Some(en) = self.en.take() {
            if !en.is_finished() {
                let _ = self.rt.block_on(en.close());
            }
        }
    }
}

/// The blocking Instant Image facade over one host.
#[derive(Debug)]
pub struct BlockingHost {
    rt: Runtime,
    host: IiHost,
}

impl BlockingHost {
    /// Builds the client, facade and runtime.
    pub fn new(config: ClientConfig) -> Result<BlockingHost> {
        Ok(BlockingHost {
            rt: runtime()?,
            host: IiHost::new(Client::new(config)?),
        })
    }

    /// The async facade, for [`BlockingHost::block_on`] with any handle method:
    /// `h.block_on(set.copy(Direction::ToShadow))`.
    pub fn host(&self) -> &IiHost {
        &self.host
    }

    /// Runs any future on the owned runtime.
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// [`IiHost::create_set`].
    pub fn create_set(&self, spec: &SetSpec) -> Result<SetHandle> {
        self.rt.block_on(self.host.create_set(spec))
    }

    /// [`IiHost::find_set`].
    pub fn find_set(&self, name: &str) -> Result<SetHandle> {
        self.rt.block_on(self.host.find_set(name))
    }

    /// [`IiHost::list_sets`].
    pub fn list_sets(&self) -> Result<Vec<SetInfo>> {
        self.rt.block_on(self.host.list_sets())
    }

    /// [`IiHost::delete_set`].
    pub fn delete_set(&self, name: &str) -> Result<()> {
        self.rt.block_on(self.host.delete_set(name))
    }

    /// [`IiHost::list_groups`].
    pub fn list_groups(&self) -> Result<Vec<GroupInfo>> {
        self.rt.block_on(self.host.list_groups())
    }

    /// [`IiHost::list_overflows`].
    pub fn list_overflows(&self) -> Result<Vec<OverflowInfo>> {
        self.rt.block_on(self.host.list_overflows())
    }

    /// [`IiHost::list_volumes`].
    pub fn list_volumes(&self) -> Result<Vec<VolumeInfo>> {
        self.rt.block_on(self.host.list_volumes())
    }

    /// [`IiHost::import_shadow`].
    pub fn import_shadow(&self, shadow: &str, bitmap: &str) -> Result<SetHandle> {
        self.rt.block_on(self.host.import_shadow(shadow, bitmap))
    }
}
