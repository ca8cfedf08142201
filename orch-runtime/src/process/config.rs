//! The process runtime's settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings of a [`ProcessRuntime`].
#[derive(Clone, Debug, Default)]
pub struct ProcessRuntimeConfig {
    /// Root directory: state under `root/state`, default pod logs under `root/pods`.
    pub root: PathBuf,
    /// Entrypoints for images: image (`name:tag` or `name`) → program and
    /// arguments.
    pub images: BTreeMap<String, Vec<String>>,
    /// Pod IPs are `127.<address_block>.x.y`: give each runtime on one
    /// machine (each node of an embedded cluster) a block of its own.
    pub address_block: u8,
}

impl ProcessRuntimeConfig {
    /// A config rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ProcessRuntimeConfig { root: root.into(), images: BTreeMap::new(), address_block: 0 }
    }

    /// Sets [`address_block`](Self::address_block).
    #[must_use]
    pub fn address_block(mut self, block: u8) -> Self {
        self.address_block = block;
        self
    }

    /// Maps an image to an entrypoint.
    #[must_use]
    pub fn image(mut self, image: &str, entrypoint: &[&str]) -> Self {
        self.images.insert(image.to_owned(), entrypoint.iter().map(|s| (*s).to_owned()).collect());
        self
    }
}
