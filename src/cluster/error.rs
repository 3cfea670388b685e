//! The error type of the cluster layer: a project's config, the admin link to the master, a
//! refused registration, and calls to frontends' `sys` remotes.

/// Errors of the cluster layer.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The project's config files are missing or wrong.
    #[error("pomelo config: {0}")]
    Config(String),
    /// The master could not be reached or broke the protocol.
    #[error("master: {0}")]
    Master(String),
    /// The master refused our registration (usually the token).
    #[error(
        "the master refused to register this server: {0} (check the token for this server type in the master's config/adminServer.json, or --token)"
    )]
    Refused(String),
    /// A call to a frontend's sys remote failed.
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    /// A frontend answered a sys call with an error.
    #[error("{remote} refused: {message}")]
    Remote {
        /// The sys remote called.
        remote: String,
        /// The error text.
        message: String,
    },
}
