//! Being a server type among Node servers: the monitor agent that registers with the pomelo
//! master, the `sys` remotes (`msgRemote.forwardMessage` in; `sessionRemote` and
//! `channelRemote` out), backend sessions and channels, and reading a pomelo project's config.
//!
//! This file only declares the modules and re-exports their public items; the modules import
//! one another directly (never through here), without cycles:
//!
//! ```text
//! error                                 ClusterError
//! link     -> error                     the admin link (MQTT / socket.io 0.9)
//! flavor   -> link                      pomelo 1.x / 2.x / pinus
//! config   -> error, flavor             JoinConfig from a project's config/
//! sys      -> error                     calls to a frontend's sys remotes
//! channel  -> error, sys                ChannelService
//! session  -> error, channel, sys       Cluster, SessionService, BackendSession
//! handlers -> session                   msgRemote.forwardMessage to Rust handlers
//! demo     -> handlers                  the demo timeHandler
//! master   -> config                    answers to the master: server table, console, list
//! agent    -> error, link, master       the connection loop: register, serve, reconnect
//! monitor  -> error, config, agent, master   Monitor: join, stopped, servers, leave
//! ```

mod agent;
pub mod channel;
pub mod config;
pub mod demo;
mod error;
mod flavor;
pub mod handlers;
pub mod link;
mod master;
pub mod monitor;
pub mod session;
mod sys;

pub use channel::ChannelService;
pub use config::JoinConfig;
pub use error::ClusterError;
pub use flavor::{Flavor, UnknownFlavor, pinus_reply};
pub use handlers::{HandlerError, Handlers};
pub use monitor::{Monitor, MonitorTimings, StopReason};
pub use session::{BackendSession, Cluster, SessionService};
