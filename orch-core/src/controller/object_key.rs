//! `ObjectKey`: what a work queue holds — an object's namespace and name
//! (controller-runtime's `client.ObjectKey`, kube-rs's `ObjectRef`).

use std::fmt;

use crate::resource::Object;

/// The namespace and name of an object; the namespace is empty for
/// cluster-scoped kinds. Displayed as `namespace/name` (or `name`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `namespace`/`name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey { namespace: namespace.into(), name: name.into() }
    }

    /// The key of an object.
    pub fn of<K: Object>(obj: &K) -> Self {
        let m = obj.meta();
        ObjectKey::new(m.namespace.clone(), m.name.clone())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}
