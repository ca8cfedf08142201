//! A custom controller for a kind of your own (`cargo run --example custom_controller`): each
//! `Website` gets a ConfigMap page it owns, so the garbage collector deletes the page with it.

use std::sync::Arc;

use async_trait::async_trait;
use orch_controllers::{controller_ref, GarbageCollector};
use orch_core::controller::{Action, Context, Controller, InformerFactory, Reconciler};
use orch_core::{impl_resource, Api, ConfigMap, Error, ObjectMeta};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Website {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: WebsiteSpec,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct WebsiteSpec {
    content: String,
}

impl_resource!(Website {
    group: "example.com",
    version: "v1",
    kind: "Website",
    plural: "websites",
    namespaced: true,
    status_subresource: false
});

/// The reconciler holds what it needs: here, the Api of the pages it writes.
struct WebsiteReconciler(Api<ConfigMap>);

#[async_trait]
impl Reconciler for WebsiteReconciler {
    type Object = Website;
    type Error = Error;

    /// Idempotent: compares the page with the spec and writes only a difference.
    async fn reconcile(&self, site: Arc<Website>, _ctx: &Context) -> Result<Action, Error> {
        let metadata = ObjectMeta::named(format!("website-{}", site.metadata.name));
        let mut page = ConfigMap { metadata, ..Default::default() };
        page.metadata.owner_references.push(controller_ref(&*site));
        page.data.insert("index.html".into(), site.spec.content.clone());
        match self.0.get_opt(&page.metadata.name).await? {
            None => drop(self.0.create(&page).await?),
            Some(current) if current.data != page.data => {
                page.metadata.resource_version = current.metadata.resource_version;
                self.0.replace(&page).await?;
            }
            Some(_) => {}
        }
        Ok(Action::await_change())
    }
}

/// Waits until the page of the Website `hello` holds `want` (`None`: is gone).
async fn wait_for(pages: &Api<ConfigMap>, want: Option<&str>) {
    for _ in 0..500 {
        let page = pages.get_opt("website-hello").await.ok().flatten();
        if page.and_then(|p| p.data.get("index.html").cloned()).as_deref() == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for the page to be {want:?}");
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let store = Arc::new(orch_store::MemStore::new());
    let factory = Arc::new(InformerFactory::new(store.clone()));
    let sites: Api<Website> = Api::namespaced(store.clone(), "default");
    let pages: Api<ConfigMap> = Api::namespaced(store.clone(), "default");
    let stop = CancellationToken::new();
    let reconciler = Arc::new(WebsiteReconciler(pages.clone()));
    let controller = Controller::<Website>::new(factory.clone()).owns::<ConfigMap>();
    tokio::spawn(controller.run(reconciler, stop.clone()));
    let gc = GarbageCollector::new(factory).kind::<Website>().kind::<ConfigMap>();
    tokio::spawn(gc.run(stop.clone()));

    let spec = WebsiteSpec { content: "<h1>Hello</h1>".into() };
    let site = Website { metadata: ObjectMeta::named("hello"), spec, ..Default::default() };
    sites.create(&site).await?;
    wait_for(&pages, Some("<h1>Hello</h1>")).await;
    sites.patch("hello", &json!({"spec": {"content": "<h1>Hello again</h1>"}})).await?;
    wait_for(&pages, Some("<h1>Hello again</h1>")).await;
    sites.delete("hello", &Default::default()).await?;
    wait_for(&pages, None).await;
    println!("the page was created, updated and deleted with its Website");
    stop.cancel();
    Ok(())
}
