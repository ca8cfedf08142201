//! Creates: [`Api::create`], with `generateName`.

use super::Api;
use crate::admission::Operation;
use crate::resource::Object;
use crate::store::{Compare, TxnOp, TxnRequest};
use crate::time::Time;
use crate::{Error, Result};

impl<K: Object> Api<K> {
    /// Creates an object. Sets `uid`, `creationTimestamp`, `generation` 1 and
    /// `resourceVersion`; fills `apiVersion`/`kind`; puts a namespaced object
    /// without a namespace in this Api's namespace (or `default`). With an
    /// empty `name` and a `generateName`, picks `generateName` + 5 random
    /// characters.
    ///
    /// Errors: [`Error::AlreadyExists`]; [`Error::Invalid`] (names, labels,
    /// per-kind rules, a `resourceVersion` set, a mismatched
    /// namespace/apiVersion/kind); [`Error::TooLarge`];
    /// [`Error::AdmissionDenied`].
    pub async fn create(&self, obj: &K) -> Result<K> {
        let mut obj = obj.clone();
        let namespace = self.namespace_of(&obj.meta().namespace)?;
        let object = self.object_name(&namespace, &obj.meta().name);
        self.check_type_meta(&mut obj, &object)?;
        let meta = obj.meta_mut();
        meta.namespace = namespace.clone();
        if let Some(remote) = self.remote() {
            return self.remote_create(remote, &obj).await;
        }
        let meta = obj.meta_mut();
        if !meta.resource_version.is_empty() {
            return Err(Error::Invalid {
                object,
                field: "metadata.resourceVersion".into(),
                reason: "must not be set on create".into(),
            });
        }
        let generate = meta.name.is_empty() && !meta.generate_name.is_empty();
        if meta.name.is_empty() && !generate {
            return Err(Error::Invalid {
                object,
                field: "metadata.name".into(),
                reason: "name or generateName is required".into(),
            });
        }
        meta.uid = uuid::Uuid::new_v4().to_string();
        meta.creation_timestamp = Some(Time::now());
        meta.generation = 1;
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
        let attempts = if generate { 8 } else { 1 };
        for _ in 0..attempts {
            if generate {
                let name = format!("{}{}", obj.meta().generate_name, random_suffix());
                obj.meta_mut().name = name;
            }
            let admitted = self.admit(Operation::Create, obj.clone(), None, true).await?;
            let object = self.object_name(&namespace, &admitted.meta().name);
            let key = self.key(&namespace, &admitted.meta().name);
            let value = self.encode(&admitted, &object)?;
            if self.dry_run {
                if !generate && self.read(&namespace, &admitted.meta().name).await?.is_some() {
                    return Err(Error::AlreadyExists { object });
                }
                return Ok(admitted);
            }
            let put = self.put_request(key.clone(), value).await?;
            let resp = self
                .store
                .txn(TxnRequest {
                    compare: vec![Compare::absent(key)],
                    success: vec![TxnOp::Put(put)],
                    failure: vec![],
                })
                .await
                .inspect_err(|e| self.lease_failed(e))?;
            if resp.succeeded {
                let mut created = admitted;
                created.meta_mut().resource_version = resp.header.revision.to_string();
                return Ok(created);
            }
            if !generate {
                return Err(Error::AlreadyExists { object });
            }
        }
        Err(Error::AlreadyExists { object: self.object_name(&namespace, &obj.meta().name) })
    }
}

fn random_suffix() -> String {
    // Kubernetes' alphabet for generated names: no vowels, no look-alikes.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .take(5)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
