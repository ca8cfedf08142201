//! Profiles in code or from YAML shaped like kube-scheduler's
//! `KubeSchedulerConfiguration` (`profiles`, `plugins`, `pluginConfig`).
//!
//! ```yaml
//! apiVersion: kubescheduler.config.k8s.io/v1
//! kind: KubeSchedulerConfiguration
//! profiles:
//!   - schedulerName: default-scheduler
//!     plugins:
//!       multiPoint:
//!         enabled: [{name: CheapNodes, weight: 3}]
//!       score:
//!         disabled: [{name: ImageLocality}]
//!     pluginConfig:
//!       - name: NodeResourcesFit
//!         args: {scoringStrategy: {type: MostAllocated}}
//! ```
//!
//! As in kube-scheduler v1, the default plugins are the default `multiPoint`
//! set: `multiPoint.enabled` adds a plugin at every extension point it
//! serves, and a point's own `enabled`/`disabled` adjust that point (`"*"`
//! disables every default plugin there).

use serde::Deserialize;
use serde_json::Value;

/// A plugin named in a list, with a score weight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PluginRef {
    /// The plugin's registered name.
    pub name: String,
    /// Score weight (score points only); default 1.
    #[serde(default)]
    pub weight: Option<i64>,
}

impl PluginRef {
    /// A reference by name with the default weight.
    pub fn named(name: &str) -> Self {
        PluginRef { name: name.to_owned(), weight: None }
    }

    /// A reference with a score weight.
    pub fn weighted(name: &str, weight: i64) -> Self {
        PluginRef { name: name.to_owned(), weight: Some(weight) }
    }
}

/// Plugins to add and remove at one extension point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct PluginList {
    /// Added, in order.
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    /// Removed; `*` removes every default.
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

/// `plugins` of a profile: one list per extension point, plus `multiPoint`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct PluginsConfig {
    #[serde(default)]
    pub multi_point: PluginList,
    #[serde(default)]
    pub pre_enqueue: PluginList,
    #[serde(default)]
    pub queue_sort: PluginList,
    #[serde(default)]
    pub pre_filter: PluginList,
    #[serde(default)]
    pub filter: PluginList,
    #[serde(default)]
    pub post_filter: PluginList,
    #[serde(default)]
    pub pre_score: PluginList,
    #[serde(default)]
    pub score: PluginList,
    #[serde(default)]
    pub reserve: PluginList,
    #[serde(default)]
    pub permit: PluginList,
    #[serde(default)]
    pub pre_bind: PluginList,
    #[serde(default)]
    pub bind: PluginList,
    #[serde(default)]
    pub post_bind: PluginList,
}

impl PluginsConfig {
    /// The list for an extension point by its config name (`filter`, `score`, …).
    pub fn point(&self, name: &str) -> Option<&PluginList> {
        Some(match name {
            "preEnqueue" => &self.pre_enqueue,
            "queueSort" => &self.queue_sort,
            "preFilter" => &self.pre_filter,
            "filter" => &self.filter,
            "postFilter" => &self.post_filter,
            "preScore" => &self.pre_score,
            "score" => &self.score,
            "reserve" => &self.reserve,
            "permit" => &self.permit,
            "preBind" => &self.pre_bind,
            "bind" => &self.bind,
            "postBind" => &self.post_bind,
            _ => return None,
        })
    }
}

/// Arguments for one plugin.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct PluginConfig {
    /// The plugin's name.
    pub name: String,
    /// Its arguments, as the plugin defines them.
    #[serde(default)]
    pub args: Value,
}

/// One profile: a scheduler name and its plugins.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileConfig {
    /// Pods whose `spec.schedulerName` is this use the profile.
    #[serde(default = "default_scheduler_name")]
    pub scheduler_name: String,
    /// Changes to the default plugins.
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// Plugin arguments.
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
    /// Percentage of nodes to find feasible before scoring; `None` (or 0)
    /// for the adaptive default.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
}

fn default_scheduler_name() -> String {
    "default-scheduler".into()
}

impl Default for ProfileConfig {
    fn default() -> Self {
        ProfileConfig {
            scheduler_name: default_scheduler_name(),
            plugins: PluginsConfig::default(),
            plugin_config: Vec::new(),
            percentage_of_nodes_to_score: None,
        }
    }
}

impl ProfileConfig {
    /// The default profile under another name.
    pub fn named(scheduler_name: &str) -> Self {
        ProfileConfig { scheduler_name: scheduler_name.to_owned(), ..Default::default() }
    }

    /// The arguments given for `plugin`, or `null`.
    pub fn args(&self, plugin: &str) -> Value {
        self.plugin_config
            .iter()
            .find(|c| c.name == plugin)
            .map(|c| c.args.clone())
            .unwrap_or(Value::Null)
    }
}

/// The `KubeSchedulerConfiguration` subset orch reads.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerConfiguration {
    /// `kubescheduler.config.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `KubeSchedulerConfiguration`.
    #[serde(default)]
    pub kind: String,
    /// Default for profiles that do not set their own.
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    /// The profiles; one default profile if empty.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
}

impl SchedulerConfiguration {
    /// Reads the YAML (or JSON) form.
    ///
    /// Errors: [`Error::Config`](crate::Error::Config) naming the field.
    pub fn from_yaml(text: &str) -> Result<Self, crate::Error> {
        let de = yaml_serde::Deserializer::from_str(text);
        let mut config: SchedulerConfiguration = serde::Deserialize::deserialize(de)
            .map_err(|e| crate::Error::Config { profile: String::new(), reason: e.to_string() })?;
        if config.profiles.is_empty() {
            config.profiles.push(ProfileConfig::default());
        }
        for p in &mut config.profiles {
            if p.percentage_of_nodes_to_score.is_none() {
                p.percentage_of_nodes_to_score = config.percentage_of_nodes_to_score;
            }
        }
        Ok(config)
    }
}
