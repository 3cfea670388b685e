//! Routing (spec/wire.md §2.8, cluster.md §4): which server of a type gets a call.
//!
//! Every decision pomelo-rpc 1.0.7 makes visibly (default crc route, rr, wrr, ch) is reproduced
//! exactly and checked against vectors from the real Node code; its state bugs (la's NaN
//! counters, ch's cross-type ring) are not.
//!
//! Layout: the vocabulary and each policy's stateless step in `schedule`, the CRC flavours and
//! md5 ring in `hash`, Node's value semantics in `jsvalue`; the stateful [`Router`] lives here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::Rng;

mod hash;
mod jsvalue;
mod schedule;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

pub use hash::{CrcFlavor, DEFAULT_REPLICAS, crc32_pinus, crc32_pomelo, default_index};
pub use schedule::{RouteContext, RouteError, RouteFn, Schedule, route_key};

use super::ServerInfo;
use hash::Ring;
use schedule::{WrrState, ch_field, wrr_next};

/// Mutable router state, all schedules' fields side by side (only the active one is used).
#[derive(Debug, Default)]
struct State {
    rr: HashMap<String, u64>,
    wrr: HashMap<String, WrrState>,
    in_flight: HashMap<String, u64>,
    rings: HashMap<String, Arc<Ring>>,
}

/// Thread-safe router: `pick` returns the chosen server id.
#[derive(Debug)]
pub struct Router {
    schedule: Schedule,
    state: Mutex<State>,
}

impl Router {
    /// A router with fresh state.
    pub fn new(schedule: Schedule) -> Self {
        Router { schedule, state: Mutex::default() }
    }

    /// The policy this router applies.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// Chooses the server for one call.
    pub fn pick(&self, ctx: &RouteContext) -> Result<String, RouteError> {
        if let Schedule::Custom(f) = &self.schedule {
            return f(ctx);
        }
        let servers = ctx.servers;
        if servers.is_empty() {
            return Err(RouteError::NoServers(ctx.server_type.to_string()));
        }
        let n = servers.len();
        let id = match &self.schedule {
            Schedule::Default(flavor) => &servers[default_index(*flavor, &route_key(ctx.route_param), n)].id,
            Schedule::RoundRobin => {
                let mut st = self.lock();
                let counter = st.rr.entry(ctx.server_type.to_string()).or_insert(0);
                let i = (*counter % n as u64) as usize;
                *counter = counter.wrapping_add(1);
                &servers[i].id
            }
            Schedule::WeightedRoundRobin => {
                let mut st = self.lock();
                let cur = st.wrr.get(ctx.server_type).copied().unwrap_or(WrrState { index: -1, weight: 0 });
                let (i, next) = wrr_next(servers, cur)
                    .ok_or_else(|| RouteError::InvalidWeight(ctx.server_type.to_string()))?;
                st.wrr.insert(ctx.server_type.to_string(), next);
                &servers[i].id
            }
            Schedule::LeastActive => {
                let st = self.lock();
                let count = |s: &ServerInfo| st.in_flight.get(&s.id).copied().unwrap_or(0);
                let min = servers.iter().map(count).min().unwrap_or(0);
                let ties: Vec<&ServerInfo> = servers.iter().filter(|s| count(s) == min).collect();
                &ties[rand::rng().random_range(0..ties.len())].id
            }
            Schedule::ConsistentHash { replicas, hash_field_index } => {
                let field = ch_field(ctx.msg, *hash_field_index)?;
                let ring = self.ring(ctx, *replicas);
                return Ok(ring.lookup(&field).to_string());
            }
            Schedule::Random => &servers[rand::rng().random_range(0..n)].id,
            Schedule::Custom(_) => unreachable!("handled above"),
        };
        Ok(id.clone())
    }

    /// Least-active accounting: a call to `server_id` started. Other schedules ignore it.
    pub fn started(&self, server_id: &str) {
        if matches!(self.schedule, Schedule::LeastActive) {
            *self.lock().in_flight.entry(server_id.to_string()).or_insert(0) += 1;
        }
    }

    /// Least-active accounting: a call to `server_id` ended (reply, error or timeout; exactly
    /// once per `started`). Other schedules ignore it.
    pub fn finished(&self, server_id: &str) {
        if matches!(self.schedule, Schedule::LeastActive) {
            let mut st = self.lock();
            if let Some(c) = st.in_flight.get_mut(server_id) {
                *c = c.saturating_sub(1);
                if *c == 0 {
                    st.in_flight.remove(server_id);
                }
            }
        }
    }

    /// Calls to `server_id` in flight, as least-active sees them (0 under other schedules).
    pub fn in_flight(&self, server_id: &str) -> u64 {
        self.lock().in_flight.get(server_id).copied().unwrap_or(0)
    }

    /// The server list of a type changed: ch rebuilds that type's ring on the next pick; rr and
    /// wrr keep their cursors, as pomelo does.
    pub fn servers_changed(&self, server_type: &str) {
        self.lock().rings.remove(server_type);
    }

    /// State lock; a panic elsewhere cannot leave it inconsistent, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The ring for this type, rebuilt when the id list differs from the one it was built from.
    fn ring(&self, ctx: &RouteContext, replicas: usize) -> Arc<Ring> {
        let mut st = self.lock();
        if let Some(ring) = st.rings.get(ctx.server_type)
            && ring.built_from.iter().eq(ctx.servers.iter().map(|s| &s.id))
        {
            return ring.clone();
        }
        let ids: Vec<&str> = ctx.servers.iter().map(|s| s.id.as_str()).collect();
        let ring = Arc::new(Ring::build(&ids, replicas));
        st.rings.insert(ctx.server_type.to_string(), ring.clone());
        ring
    }
}
