//! What makes a type storable through the [`Api`](crate::api::Api): the
//! [`Object`] and [`Resource`] traits, and [`ApiResource`], the runtime
//! description of a kind (group, version, kind, plural, scope).
//!
//! Embedders add kinds of their own — the equivalent of a CRD — by
//! implementing these traits, most easily with [`impl_resource!`](crate::impl_resource):
//!
//! ```
//! use orch_core::{impl_resource, ObjectMeta, Resource};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! pub struct GameServer {
//!     #[serde(default, skip_serializing_if = "String::is_empty")]
//!     pub api_version: String,
//!     #[serde(default, skip_serializing_if = "String::is_empty")]
//!     pub kind: String,
//!     #[serde(default)]
//!     pub metadata: ObjectMeta,
//!     #[serde(default)]
//!     pub spec: GameServerSpec,
//! }
//!
//! #[derive(Clone, Debug, Default, Serialize, Deserialize)]
//! #[serde(rename_all = "camelCase")]
//! pub struct GameServerSpec {
//!     pub map: String,
//!     pub max_players: u32,
//! }
//!
//! impl_resource!(GameServer {
//!     group: "games.example.com",
//!     version: "v1",
//!     kind: "GameServer",
//!     plural: "gameservers",
//!     namespaced: true,
//!     status_subresource: false,
//! });
//!
//! assert_eq!(GameServer::api_resource().api_version, "games.example.com/v1");
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::meta::ObjectMeta;
use crate::validation::FieldErrors;

/// The runtime description of a kind: where its objects live in the store
/// and how they are named.
///
/// Keys are `/registry/{group}/{plural}/{namespace}/{name}` for namespaced
/// kinds and `/registry/{group}/{plural}/{name}` for cluster-scoped ones; the
/// core group (`""`, apiVersion `v1`) is spelled `core` in keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiResource {
    /// API group, `""` for core.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Lower-case plural, e.g. `deployments`.
    pub plural: String,
    /// True if objects live in namespaces.
    pub namespaced: bool,
    /// True if `status` is a subresource: written only by `replace_status`
    /// and `patch_status`, ignored by the other writes.
    pub status_subresource: bool,
}

impl ApiResource {
    /// A description from its parts; `api_version` is derived.
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        namespaced: bool,
        status_subresource: bool,
    ) -> Self {
        ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: if group.is_empty() {
                version.to_owned()
            } else {
                format!("{group}/{version}")
            },
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            status_subresource,
        }
    }

    fn group_segment(&self) -> &str {
        if self.group.is_empty() {
            "core"
        } else {
            &self.group
        }
    }

    /// The key prefix of every object of this kind in `namespace` (`None`:
    /// all namespaces, or a cluster-scoped kind). Ends with `/`.
    pub fn key_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => {
                format!("/registry/{}/{}/{ns}/", self.group_segment(), self.plural)
            }
            _ => format!("/registry/{}/{}/", self.group_segment(), self.plural),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: &str, name: &str) -> String {
        if self.namespaced {
            format!("/registry/{}/{}/{namespace}/{name}", self.group_segment(), self.plural)
        } else {
            format!("/registry/{}/{}/{name}", self.group_segment(), self.plural)
        }
    }

    /// How messages name one object: `{plural}/{namespace}/{name}`, or
    /// `{plural}/{name}` when cluster-scoped.
    pub fn object_name(&self, namespace: &str, name: &str) -> String {
        if self.namespaced {
            format!("{}/{namespace}/{name}", self.plural)
        } else {
            format!("{}/{name}", self.plural)
        }
    }
}

/// A value that the [`Api`](crate::api::Api) can store: serializable, with
/// metadata and type fields. Implemented by every kind and by
/// [`DynamicObject`](crate::DynamicObject).
pub trait Object: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The metadata.
    fn meta(&self) -> &ObjectMeta;
    /// The metadata, mutably.
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    /// The `apiVersion` field as it is (may be empty before the first write).
    fn api_version(&self) -> &str;
    /// The `kind` field as it is (may be empty before the first write).
    fn kind(&self) -> &str;
    /// Sets `apiVersion` and `kind`.
    fn set_type_meta(&mut self, api_version: &str, kind: &str);

    /// The value of a field that field selectors may name, or `None` if this
    /// kind does not support selecting on it. Absent values are `""`.
    ///
    /// Every kind supports `metadata.name` and `metadata.namespace`; Pod adds
    /// `spec.nodeName`, `spec.schedulerName` and `status.phase`, as Kubernetes.
    fn field(&self, path: &str) -> Option<String> {
        meta_field(self.meta(), path)
    }

    /// Records what is wrong with this object beyond its metadata (which the
    /// Api checks for every kind). Runs on every create and update, after the
    /// mutating admission hooks. The default finds nothing wrong.
    fn validate(&self, errors: &mut FieldErrors) {
        let _ = errors;
    }

    /// Records what an update may not change, `old` being the stored
    /// object (Kubernetes' `ValidateUpdate`: immutable fields, fields that
    /// may only grow or shrink). Runs on every update of the desired state
    /// (`replace`, `patch`), after [`validate`](Self::validate); not on
    /// status writes. The default allows any change.
    fn validate_update(&self, old: &Self, errors: &mut FieldErrors) {
        let _ = (old, errors);
    }

    /// Normalizes the object before every write is validated (what
    /// Kubernetes does in its conversion and `PrepareForCreate`/
    /// `PrepareForUpdate`): a Secret's `stringData` is merged into `data`.
    /// Runs before and after the mutating admission hooks. The default
    /// changes nothing.
    fn prepare_for_write(&mut self) {}

    /// Seconds a deletion waits for the object to wind down before it is
    /// removed, or `None` to remove it at once. Pods bound to a node return
    /// their `terminationGracePeriodSeconds` (as Kubernetes: the node agent
    /// stops the containers, then deletes the Pod with grace 0).
    fn graceful_deletion_seconds(&self) -> Option<i64> {
        None
    }
}

/// The fields selectors support on every kind.
pub fn meta_field(meta: &ObjectMeta, path: &str) -> Option<String> {
    match path {
        "metadata.name" => Some(meta.name.clone()),
        "metadata.namespace" => Some(meta.namespace.clone()),
        _ => None,
    }
}

/// A kind known at compile time: the built-in kinds and embedder-defined ones.
pub trait Resource: Object {
    /// API group, `""` for core.
    const GROUP: &'static str;
    /// Version, e.g. `v1`.
    const VERSION: &'static str;
    /// Kind, e.g. `Pod`.
    const KIND: &'static str;
    /// Lower-case plural, e.g. `pods`.
    const PLURAL: &'static str;
    /// True if objects live in namespaces.
    const NAMESPACED: bool;
    /// True if `status` is a subresource (see [`ApiResource::status_subresource`]).
    const STATUS_SUBRESOURCE: bool;

    /// The runtime description of this kind.
    fn api_resource() -> ApiResource {
        ApiResource::new(
            Self::GROUP,
            Self::VERSION,
            Self::KIND,
            Self::PLURAL,
            Self::NAMESPACED,
            Self::STATUS_SUBRESOURCE,
        )
    }
}

/// Implements [`Object`] and [`Resource`] for a struct with `api_version`,
/// `kind` and `metadata` fields. An optional `fields:` function
/// `fn(&Self, &str) -> Option<String>` adds field-selector fields beyond
/// `metadata.name` and `metadata.namespace`; an optional `validate:` function
/// `fn(&Self, &mut FieldErrors)` adds validation rules; optional
/// `validate_update:` (`fn(&Self, &Self, &mut FieldErrors)`, new then old),
/// `prepare_for_write:` (`fn(&mut Self)`) and `graceful_deletion:`
/// (`fn(&Self) -> Option<i64>`) fill the [`Object`] methods of those names,
/// in that order. See the [module docs](crate::resource).
#[macro_export]
macro_rules! impl_resource {
    ($ty:ty {
        group: $group:literal,
        version: $version:literal,
        kind: $kind:literal,
        plural: $plural:literal,
        namespaced: $namespaced:literal,
        status_subresource: $status:literal
        $(, fields: $fields:path)?
        $(, validate: $validate:path)?
        $(, validate_update: $validate_update:path)?
        $(, prepare_for_write: $prepare:path)?
        $(, graceful_deletion: $grace:path)?
        $(,)?
    }) => {
        impl $crate::Object for $ty {
            fn meta(&self) -> &$crate::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut $crate::ObjectMeta {
                &mut self.metadata
            }
            fn api_version(&self) -> &str {
                &self.api_version
            }
            fn kind(&self) -> &str {
                &self.kind
            }
            fn set_type_meta(&mut self, api_version: &str, kind: &str) {
                if self.api_version != api_version {
                    self.api_version = api_version.to_owned();
                }
                if self.kind != kind {
                    self.kind = kind.to_owned();
                }
            }
            $(
                fn field(&self, path: &str) -> Option<String> {
                    $crate::resource::meta_field(&self.metadata, path).or_else(|| $fields(self, path))
                }
            )?
            $(
                fn validate(&self, errors: &mut $crate::validation::FieldErrors) {
                    $validate(self, errors)
                }
            )?
            $(
                fn validate_update(&self, old: &Self, errors: &mut $crate::validation::FieldErrors) {
                    $validate_update(self, old, errors)
                }
            )?
            $(
                fn prepare_for_write(&mut self) {
                    $prepare(self)
                }
            )?
            $(
                fn graceful_deletion_seconds(&self) -> Option<i64> {
                    $grace(self)
                }
            )?
        }
        impl $crate::Resource for $ty {
            const GROUP: &'static str = $group;
            const VERSION: &'static str = $version;
            const KIND: &'static str = $kind;
            const PLURAL: &'static str = $plural;
            const NAMESPACED: bool = $namespaced;
            const STATUS_SUBRESOURCE: bool = $status;
        }
    };
}
