//! The interop namespace: the object manager's own instances
//! (`CIM_ObjectManager`, `CIM_Namespace`, computed live) and the indication
//! subscriptions (static instances of `CIM_IndicationFilter`,
//! `CIM_ListenerDestinationCIMXML`, `CIM_IndicationSubscription`).

use crate::repository::Repository;
use cim::{Instance, ObjectPath};

/// One complete indication subscription, as the deliverer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The `CIM_IndicationSubscription` instance's path.
    pub path: ObjectPath,
    /// The filter's path.
    pub filter_path: ObjectPath,
    /// The handler's (listener destination's) path.
    pub handler_path: ObjectPath,
    /// The filter's `Query` (parse with [`crate::wql::Query::parse`]).
    pub query: String,
    /// The filter's `QueryLanguage` (`WQL`).
    pub query_language: String,
    /// The filter's source namespaces (`SourceNamespaces`, else
    /// `SourceNamespace`, else empty = every namespace).
    pub source_namespaces: Vec<String>,
    /// The handler's `Destination` URL (`http://host:port/path`).
    pub destination: String,
    /// The subscription instance itself (for `SubscriptionState`, `OnFatalErrorPolicy`, ...).
    pub subscription: Instance,
}

/// This host's name (for `SystemName`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Every complete subscription stored in the interop namespace.
pub fn subscriptions(_repo: &Repository) -> Vec<Subscription> {
    Vec::new()
}
