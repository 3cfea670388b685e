//! The client's server table: one station per server id, and per server type the ids in the
//! order they arrived (pomelo's routing depends on that order).

use std::collections::HashSet;

use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

use super::ServerInfo;
use super::router::Router;
use super::station::Station;

/// Servers known to a client.
#[derive(Default)]
pub(super) struct Table {
    stations: HashMap<String, Arc<Station>>,
    by_type: HashMap<String, Vec<String>>,
}

impl Table {
    /// Adds a server (appended to its type's order) or updates its record.
    pub fn add(&mut self, info: ServerInfo, router: &Router) {
        if let Some(old) = self.stations.get(&info.id) {
            if old.info == info {
                return;
            }
            old.remove();
            let old_type = old.info.server_type.clone();
            if old_type != info.server_type
                && let Some(ids) = self.by_type.get_mut(&old_type)
            {
                ids.retain(|i| i != &info.id);
                router.servers_changed(&old_type);
            }
        }
        let ids = self.by_type.entry(info.server_type.clone()).or_default();
        if !ids.contains(&info.id) {
            ids.push(info.id.clone());
        }
        router.servers_changed(&info.server_type);
        self.stations.insert(info.id.clone(), Arc::new(Station::new(info)));
    }

    /// Removes a server; its station fails what waits on it.
    pub fn remove(&mut self, id: &str, router: &Router) {
        if let Some(station) = self.stations.remove(id) {
            station.remove();
            if let Some(ids) = self.by_type.get_mut(&station.info.server_type) {
                ids.retain(|i| i != id);
            }
            router.servers_changed(&station.info.server_type);
        }
    }

    /// Ids not in `keep`.
    pub fn ids_not_in(&self, keep: &HashSet<&str>) -> Vec<String> {
        self.stations.keys().filter(|id| !keep.contains(id.as_str())).cloned().collect()
    }

    /// Every server, grouped by type (types sorted), arrival order within a type.
    pub fn all(&self) -> Vec<ServerInfo> {
        let mut types: Vec<&String> = self.by_type.keys().collect();
        types.sort();
        types.into_iter().flat_map(|t| self.of_type(t)).collect()
    }

    /// The servers of one type in arrival order.
    pub fn of_type(&self, server_type: &str) -> Vec<ServerInfo> {
        self.by_type
            .get(server_type)
            .map_or_else(Vec::new, |ids| ids.iter().map(|id| self.stations[id].info.clone()).collect())
    }

    /// The station of a server id.
    pub fn station(&self, id: &str) -> Option<Arc<Station>> {
        self.stations.get(id).cloned()
    }

    /// Every station.
    pub fn stations(&self) -> Vec<Arc<Station>> {
        self.stations.values().cloned().collect()
    }
}
