//! The one error type of `orch-sched`.

/// Errors of the scheduling framework and the scheduler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A profile or plugin configuration is wrong.
    #[error("scheduler profile {profile:?}: {reason}")]
    Config {
        /// The profile's scheduler name (empty before profiles are read).
        profile: String,
        /// What is wrong.
        reason: String,
    },
    /// A plugin's arguments are wrong.
    #[error("plugin {plugin}: invalid args: {reason}")]
    PluginArgs {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        reason: String,
    },
    /// The store or Api failed.
    #[error(transparent)]
    Api(#[from] orch_core::Error),
}
