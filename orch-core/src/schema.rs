//! OpenAPI schemas of the scalar wire types that serialize by hand
//! ([`Quantity`], [`IntOrString`], [`Time`], [`MicroTime`], [`ByteString`]),
//! under the names and shapes Kubernetes' OpenAPI v3 documents give them.
//! Every kind and field type derives [`schemars::JsonSchema`]; list fields
//! carry Kubernetes' `x-kubernetes-patch-strategy` and
//! `x-kubernetes-patch-merge-key` extensions, which strategic merge patch and
//! `kubectl apply` read.
//!
//! ```
//! let schema = schemars::generate::SchemaSettings::openapi3()
//!     .into_generator()
//!     .into_root_schema_for::<orch_core::Pod>();
//! let text = serde_json::to_string(&schema).unwrap();
//! assert!(text.contains("io.k8s.api.core.v1.Container"));
//! assert!(text.contains("x-kubernetes-patch-merge-key"));
//! ```

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::byte_string::ByteString;
use crate::int_or_string::IntOrString;
use crate::quantity::Quantity;
use crate::time::{MicroTime, Time};

macro_rules! scalar_schema {
    ($ty:ty, $name:literal, $schema:tt) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

scalar_schema!(Quantity, "io.k8s.apimachinery.pkg.api.resource.Quantity", {
    "description": "A fixed-point number with a suffix: \"250m\" (millis), \"128Mi\" (binary), \"1G\" (decimal), \"2e3\".",
    "oneOf": [{ "type": "string" }, { "type": "number" }]
});

scalar_schema!(IntOrString, "io.k8s.apimachinery.pkg.util.intstr.IntOrString", {
    "description": "An integer or a string: a port (8080 or \"http\"), a bound (1 or \"25%\").",
    "format": "int-or-string",
    "oneOf": [{ "type": "integer" }, { "type": "string" }]
});

scalar_schema!(Time, "io.k8s.apimachinery.pkg.apis.meta.v1.Time", {
    "description": "An RFC 3339 time in UTC with whole seconds.",
    "type": "string",
    "format": "date-time"
});

scalar_schema!(MicroTime, "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime", {
    "description": "An RFC 3339 time in UTC with microseconds.",
    "type": "string",
    "format": "date-time"
});

/// Inline, as Kubernetes writes `Secret.data` values: a base64 string.
impl JsonSchema for ByteString {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("ByteString")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "byte" })
    }
}
