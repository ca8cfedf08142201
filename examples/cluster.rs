//! The embedded cluster: orch's main job in one process.
//!
//! Today (the foundations) it runs the embedded store and applies manifests
//! through the typed Api, as every later component will see them: it watches
//! the whole registry, applies each `--manifest`, and prints every object
//! stored and every watch event. The controllers, the scheduler and the node
//! agents join this process with their issues.
//!
//! `cargo run --release --example cluster -- [--manifest PATH]...`
//!
//! Exit codes: 0 on success; 2 if a manifest is bad (nothing from it is applied).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::StreamExt;
use orch_core::manifest::{self, Registry};
use orch_core::store::{EventType, KeyRange, Store, WatchRequest};
use orch_store::MemStore;

#[derive(Parser, Debug)]
#[command(about = "An embedded orch control plane in one process")]
struct Args {
    /// A manifest to apply (YAML or JSON, multi-document); repeatable.
    #[arg(long = "manifest", value_name = "PATH")]
    manifests: Vec<PathBuf>,
}

fn default_manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("manifests/web.yaml")
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if args.manifests.is_empty() {
        args.manifests.push(default_manifest());
    }
    let registry = Registry::builtin();

    // Read and check every manifest before applying anything.
    let mut documents = Vec::new();
    for path in &args.manifests {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        match manifest::parse(&text, &registry) {
            Ok(docs) => {
                for d in &docs {
                    for field in &d.unknown_fields {
                        eprintln!("warning: {}: document {}: field {field} is not modelled by orch and is ignored", path.display(), d.document);
                    }
                }
                documents.push((path.clone(), docs));
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }

    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let mut events = match store.watch(WatchRequest::new(KeyRange::prefix("/registry/"), 0)).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: cannot watch the store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut applied = 0;
    for (path, docs) in documents {
        for doc in docs {
            match registry.create(store.clone(), &doc).await {
                Ok(obj) => {
                    applied += 1;
                    println!(
                        "applied {} {}/{} (uid {}, resourceVersion {})",
                        obj.kind,
                        obj.metadata.namespace,
                        obj.metadata.name,
                        obj.metadata.uid,
                        obj.metadata.resource_version
                    );
                }
                Err(e) => {
                    eprintln!("error: {}: document {}: {e}", path.display(), doc.document);
                    return ExitCode::from(2);
                }
            }
        }
    }
    let mut seen = 0;
    while seen < applied {
        match tokio::time::timeout(Duration::from_secs(5), events.next()).await {
            Ok(Some(Ok(batch))) => {
                for e in batch.events {
                    seen += 1;
                    let kind = match e.kind {
                        EventType::Put => "PUT",
                        EventType::Delete => "DELETE",
                    };
                    println!(
                        "watch: {kind} {} at revision {}",
                        String::from_utf8_lossy(&e.kv.key),
                        e.kv.mod_revision
                    );
                }
            }
            other => {
                eprintln!("error: watch did not deliver every write: {other:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{applied} object(s) stored; controllers, scheduler and node agents arrive with their issues");
    ExitCode::SUCCESS
}
