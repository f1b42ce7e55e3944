//! The persisted state: one JSON record per network (`STATE/<id>.json`) holding its
//! configuration and its endpoints (one per attached container, with the address, MAC,
//! veth name and published ports), and a lock file (`STATE/.lock`).
//!
//! Every change happens under an exclusive [`fsutil::FileLock`] of the lock file, across
//! processes and threads alike (each locker opens the file anew, so each holds its own
//! open file description). Records are written with [`fsutil::write_atomic_in`]: a
//! temporary file in `STATE/.tmp/`, fsync, rename over the record, fsync of the
//! directory. A crash (of the process or of the machine) leaves either the old record
//! or the new one, and a change is durable once it returns. What a crash leaves in
//! `STATE/.tmp/` is removed by the next exclusive locker: every writer holds that lock,
//! so nothing there can still be in use.
//!
//! The order of operations keeps the state a superset of what exists in the kernel: an
//! endpoint is recorded before its veth and rules are created, and forgotten only after
//! they are removed. `recover` and `detach` can then always find what to clean.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use fsutil::FileLock;
use serde::{Deserialize, Serialize};

use crate::addr::{Ipv4Net, MacAddr};
use crate::error::Error;
use crate::files::HostsSpec;
use crate::ports::PublishedPort;

/// Where a container's hosts file is, and what goes in it besides its peers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostsConfig {
    /// The file on the host (the one bind-mounted on the container's `/etc/hosts`).
    pub path: PathBuf,
    /// Hostname, domain name and `--add-host` entries.
    pub spec: HostsSpec,
}

/// One network as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    pub id: String,
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    pub driver: String,
    pub subnet: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub internal: bool,
    pub bridge: String,
    /// Whether this is the default network (no name resolution between containers).
    pub default: bool,
    pub last_allocated: Option<Ipv4Addr>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Attached containers by ID.
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

/// One container attached to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub container_id: String,
    pub name: Option<String>,
    pub ip: Ipv4Addr,
    pub mac: MacAddr,
    pub host_veth: String,
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub ports: Vec<PublishedPort>,
    pub hosts: Option<HostsConfig>,
    /// Nanoseconds since the epoch when attached: orders a container's networks (the
    /// first one gives its own line in /etc/hosts).
    pub attached_at: u128,
}

impl NetworkRecord {
    pub(crate) fn used_addresses(&self) -> BTreeMap<Ipv4Addr, String> {
        self.endpoints
            .values()
            .map(|e| {
                (
                    e.ip,
                    e.name.clone().unwrap_or_else(|| e.container_id.clone()),
                )
            })
            .collect()
    }
}

/// The staging directory of record writes, under the state directory (skipped by the
/// loader, as every name beginning with a dot).
const STAGING: &str = ".tmp";

/// The state directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
}

/// The state, loaded under the lock; the lock is released when this is dropped.
#[derive(Debug)]
pub(crate) struct Locked<'a> {
    store: &'a Store,
    _lock: FileLock,
    pub networks: Vec<NetworkRecord>,
}

impl Store {
    pub(crate) fn new(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    /// Takes the lock for a change, and removes what a crashed writer left.
    pub(crate) fn lock_exclusive(&self) -> Result<Locked<'_>, Error> {
        let lock = FileLock::exclusive(&self.lock_path()?).map_err(Error::file)?;
        self.clear_staging()?;
        self.loaded(lock)
    }

    /// Takes the lock for reading.
    pub(crate) fn lock_shared(&self) -> Result<Locked<'_>, Error> {
        let lock = FileLock::shared(&self.lock_path()?).map_err(Error::file)?;
        self.loaded(lock)
    }

    /// The lock file, in a state directory (and staging directory) created if missing.
    fn lock_path(&self) -> Result<PathBuf, Error> {
        let staging = self.dir.join(STAGING);
        fs::create_dir_all(&staging).map_err(|e| Error::io("create", &staging, e))?;
        Ok(self.dir.join(".lock"))
    }

    fn loaded(&self, lock: FileLock) -> Result<Locked<'_>, Error> {
        let networks = self.load_all()?;
        Ok(Locked {
            store: self,
            _lock: lock,
            networks,
        })
    }

    /// Empties the staging directory: what is there was left by a crash, since the
    /// caller holds the exclusive lock that every writer holds.
    fn clear_staging(&self) -> Result<(), Error> {
        let staging = self.dir.join(STAGING);
        let entries = fs::read_dir(&staging).map_err(|e| Error::io("read", &staging, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &staging, e))?;
            fsutil::remove_tree(&entry.path()).map_err(Error::file)?;
        }
        Ok(())
    }

    fn load_all(&self) -> Result<Vec<NetworkRecord>, Error> {
        let entries = fs::read_dir(&self.dir).map_err(|e| Error::io("read", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read", &self.dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let path = entry.path();
            let bytes = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
            let record: NetworkRecord = serde_json::from_slice(&bytes)
                .map_err(|source| Error::CorruptState { path, source })?;
            out.push(record);
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.name.cmp(&b.name)));
        Ok(out)
    }
}

impl Locked<'_> {
    fn path_of(&self, id: &str) -> PathBuf {
        self.store.dir.join(format!("{id}.json"))
    }

    /// Writes a record atomically and durably, and updates the loaded copy.
    pub(crate) fn save(&mut self, record: &NetworkRecord) -> Result<(), Error> {
        let path = self.path_of(&record.id);
        let json = serde_json::to_vec_pretty(record).map_err(|source| Error::CorruptState {
            path: path.clone(),
            source,
        })?;
        fsutil::write_atomic_in(&self.store.dir.join(STAGING), &path, &json)
            .map_err(Error::file)?;
        match self.networks.iter_mut().find(|n| n.id == record.id) {
            Some(slot) => *slot = record.clone(),
            None => self.networks.push(record.clone()),
        }
        Ok(())
    }

    /// Removes a record.
    pub(crate) fn delete(&mut self, id: &str) -> Result<(), Error> {
        fsutil::remove_tree(&self.path_of(id)).map_err(Error::file)?;
        self.networks.retain(|n| n.id != id);
        Ok(())
    }

    /// Finds a network by exact name, exact ID, or unique ID prefix (as docker does).
    pub(crate) fn find(&self, name_or_id: &str) -> Result<&NetworkRecord, Error> {
        if let Some(n) = self
            .networks
            .iter()
            .find(|n| n.name == name_or_id || n.id == name_or_id)
        {
            return Ok(n);
        }
        let is_hex = !name_or_id.is_empty() && name_or_id.bytes().all(|b| b.is_ascii_hexdigit());
        let mut matches = self
            .networks
            .iter()
            .filter(|n| is_hex && n.id.starts_with(name_or_id));
        match (matches.next(), matches.next()) {
            (Some(n), None) => Ok(n),
            (Some(_), Some(_)) => Err(Error::AmbiguousNetwork {
                prefix: name_or_id.to_string(),
            }),
            (None, _) => Err(Error::NetworkNotFound {
                name: name_or_id.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(id: &str, name: &str) -> NetworkRecord {
        NetworkRecord {
            id: id.to_string(),
            name: name.to_string(),
            created: "2024-01-01T00:00:00.000000000Z".to_string(),
            driver: "bridge".to_string(),
            subnet: "10.9.0.0/24".parse().unwrap(),
            gateway: "10.9.0.1".parse().unwrap(),
            internal: false,
            bridge: "br-test".to_string(),
            default: false,
            last_allocated: None,
            labels: BTreeMap::new(),
            endpoints: BTreeMap::new(),
        }
    }

    #[test]
    fn save_load_find_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        {
            let mut l = store.lock_exclusive().unwrap();
            l.save(&record("aaaa1111", "front")).unwrap();
            l.save(&record("aaaa2222", "back")).unwrap();
        }
        let l = store.lock_shared().unwrap();
        assert_eq!(l.networks.len(), 2);
        assert_eq!(l.find("front").unwrap().id, "aaaa1111");
        assert_eq!(l.find("aaaa2").unwrap().name, "back");
        assert!(matches!(
            l.find("aaaa"),
            Err(Error::AmbiguousNetwork { .. })
        ));
        assert!(matches!(l.find("nope"), Err(Error::NetworkNotFound { .. })));
        drop(l);
        let mut l = store.lock_exclusive().unwrap();
        l.delete("aaaa1111").unwrap();
        l.delete("aaaa1111").unwrap();
        drop(l);
        assert_eq!(store.lock_shared().unwrap().networks.len(), 1);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", ".tmp", "aaaa2222.json"]);
        assert_eq!(fs::read_dir(dir.path().join(STAGING)).unwrap().count(), 0);
    }

    #[test]
    fn what_a_crashed_writer_left_is_removed_by_the_next_change_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .lock_exclusive()
            .unwrap()
            .save(&record("aaaa1111", "front"))
            .unwrap();
        // As a crash between writing the temporary file and renaming it leaves it.
        let staging = dir.path().join(STAGING);
        fs::write(staging.join(".tmp-1-0-0"), b"{\"half\":").unwrap();
        let l = store.lock_shared().unwrap();
        assert_eq!(l.networks.len(), 1);
        drop(l);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 1);
        let l = store.lock_exclusive().unwrap();
        assert_eq!(l.networks.len(), 1);
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[test]
    fn concurrent_lockers_never_hand_out_the_same_address() {
        use crate::ipam::Pool;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        store
            .lock_exclusive()
            .unwrap()
            .save(&record("cafe", "n"))
            .unwrap();
        let ips: Vec<Ipv4Addr> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..10)
                .map(|i| {
                    let store = store.clone();
                    s.spawn(move || {
                        let mut l = store.lock_exclusive().unwrap();
                        let mut r = l.find("n").unwrap().clone();
                        let used = r.used_addresses();
                        let ip = Pool {
                            network: &r.name,
                            subnet: r.subnet,
                            gateway: r.gateway,
                            used: &used,
                            last: r.last_allocated,
                        }
                        .allocate(None)
                        .unwrap();
                        let id = format!("c{i}");
                        r.endpoints.insert(
                            id.clone(),
                            EndpointRecord {
                                container_id: id,
                                name: None,
                                ip,
                                mac: MacAddr::from_ipv4(ip),
                                host_veth: format!("veth{i}"),
                                ifname: "eth0".into(),
                                aliases: vec![],
                                ports: vec![],
                                hosts: None,
                                attached_at: 0,
                            },
                        );
                        r.last_allocated = Some(ip);
                        l.save(&r).unwrap();
                        ip
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::BTreeSet<_> = ips.iter().collect();
        assert_eq!(distinct.len(), 10, "{ips:?}");
        let l = store.lock_shared().unwrap();
        assert_eq!(l.find("n").unwrap().endpoints.len(), 10);
    }

    #[test]
    fn corrupt_record_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bad.json"), b"{not json").unwrap();
        let err = Store::new(dir.path()).lock_shared().unwrap_err();
        assert!(
            matches!(&err, Error::CorruptState { path, .. } if path.ends_with("bad.json")),
            "{err}"
        );
    }
}
