#![doc = include_str!("../README.md")]
//!
//! pomelo-interop: wire-compatible pomelo / pinus RPC peers.
//!
//! Layers, bottom to top: [`message`] (the JSON envelope), [`wire`] (pure codecs),
//! [`transport`] (generic mailbox and acceptor over a dialect), [`server`] (remotes and
//! dispatch), [`client`] (the RPC client), [`cli`] (the binary's commands).

pub mod capture;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod message;
pub mod server;
pub mod transport;
pub mod wire;
