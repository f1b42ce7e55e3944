//! The container inspect document, in docker's schema, from the record's typed fields,
//! its runtime spec and its network attachments.

use oci_spec::runtime::{LinuxResources, Process, Spec};
use serde_json::{Map, Value, json};

use crate::config::Engine;
use crate::containers::Containers;
use crate::error::Result;
use crate::images::find_image;
use crate::logs::log_path;
use crate::options::{Volume, clean_abs};
use crate::record::{Record, Status};

/// Docker's zero time, for times that did not happen yet.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time_or_zero(s: &str) -> Value {
    Value::String(if s.is_empty() { ZERO_TIME } else { s }.to_owned())
}

fn list(v: &[String]) -> Value {
    if v.is_empty() { Value::Null } else { json!(v) }
}

/// The image config (`config` of the image's config blob), when the image still exists.
pub(crate) fn image_config(engine: &Engine, rec: &Record) -> Value {
    let Ok(store) = engine.store() else {
        return Value::Null;
    };
    let Ok(image) = find_image(&store, &rec.image_id) else {
        return Value::Null;
    };
    store
        .blobs()
        .read(&image.config_digest)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v.get("config").cloned())
        .unwrap_or(Value::Null)
}

fn port_key(spec: &str) -> String {
    if spec.contains('/') {
        spec.to_lowercase()
    } else {
        format!("{spec}/tcp")
    }
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": null}`.
fn network_ports(rec: &Record) -> Value {
    let mut m = Map::new();
    if !rec.is_active() {
        return Value::Object(m);
    }
    for e in &rec.net.expose {
        m.insert(port_key(e), Value::Null);
    }
    for b in &rec.ports {
        let key = format!("{}/{}", b.container_port, b.protocol);
        let entry = json!({"HostIp": b.host_ip, "HostPort": b.host_port.to_string()});
        match m.get_mut(&key) {
            Some(Value::Array(a)) => a.push(entry),
            _ => {
                m.insert(key, Value::Array(vec![entry]));
            }
        }
    }
    Value::Object(m)
}

/// `HostConfig.PortBindings` from the `-p` flags as given.
fn port_bindings(rec: &Record) -> Value {
    let mut m = Map::new();
    for p in &rec.net.publish {
        let Ok(specs) = network::PortSpec::parse(p) else {
            continue;
        };
        for s in specs {
            let key = format!("{}/{}", s.container_port, s.protocol);
            let entry = json!({
                "HostIp": s.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                "HostPort": match s.host_port {
                    network::HostPort::Random => String::new(),
                    network::HostPort::Fixed(p) => p.to_string(),
                    network::HostPort::Range(a, b) => format!("{a}-{b}"),
                },
            });
            match m.get_mut(&key) {
                Some(Value::Array(a)) => a.push(entry),
                _ => {
                    m.insert(key, Value::Array(vec![entry]));
                }
            }
        }
    }
    Value::Object(m)
}

fn network_settings(engine: &Engine, rec: &Record) -> Value {
    let attachments = if rec.is_active() && rec.on_bridge() {
        engine
            .networks()
            .and_then(|n| Ok(n.attachments(&rec.id)?))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut networks = Map::new();
    for a in &attachments {
        networks.insert(
            a.network.clone(),
            json!({
                "IPAMConfig": null,
                "Links": null,
                "Aliases": a.aliases,
                "MacAddress": a.mac.to_string(),
                "NetworkID": a.network_id,
                "EndpointID": "",
                "Gateway": a.gateway.to_string(),
                "IPAddress": a.ip.to_string(),
                "IPPrefixLen": a.prefix_len,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "DNSNames": [rec.name.clone(), rec.id[..12].to_owned()],
            }),
        );
    }
    if attachments.is_empty() && matches!(rec.net.mode.as_str(), "none" | "host") {
        networks.insert(
            rec.net.mode.clone(),
            json!({
                "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
                "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0, "DNSNames": null,
            }),
        );
    }
    // The top-level fields describe the default network's endpoint, as docker's do.
    let main = attachments
        .iter()
        .find(|a| a.network == "bridge")
        .or(attachments.first());
    let s = |f: &dyn Fn(&network::Attachment) -> String| main.map(f).unwrap_or_default();
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": if rec.is_active() {
            format!("/proc/{}/ns/net", rec.state.pid)
        } else {
            String::new()
        },
        "Ports": network_ports(rec),
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": "",
        "Gateway": s(&|a| a.gateway.to_string()),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": s(&|a| a.ip.to_string()),
        "IPPrefixLen": main.map_or(0, |a| a.prefix_len),
        "IPv6Gateway": "",
        "MacAddress": s(&|a| a.mac.to_string()),
        "Networks": networks,
    })
}

fn mounts(rec: &Record) -> Value {
    let mut out = Vec::new();
    for v in &rec.options.volume {
        let Ok(vol) = Volume::parse(v) else {
            continue;
        };
        out.push(json!({
            "Type": "bind",
            "Source": clean_abs(&vol.source).to_string_lossy(),
            "Destination": vol.target.to_string_lossy(),
            "Mode": if vol.read_only { "ro" } else { "" },
            "RW": !vol.read_only,
            "Propagation": "rprivate",
        }));
    }
    Value::Array(out)
}

/// `HostConfig`: the options as docker's host config, limits from the runtime spec.
/// `--device` as docker's `HostConfig.Devices`.
fn devices(args: &[String]) -> Value {
    let list: Vec<Value> = args
        .iter()
        .filter_map(|d| crate::spec::device_paths(d).ok())
        .map(|(host, container, perms)| {
            json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms})
        })
        .collect();
    Value::Array(list)
}

/// `own_cgroupns`: the spec gives the container a cgroup namespace of its own.
fn host_config(rec: &Record, resources: Option<&LinuxResources>, own_cgroupns: bool) -> Value {
    let o = &rec.options;
    let memory = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit())
        .unwrap_or(0);
    let memory_swap = resources
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.swap())
        .unwrap_or(0);
    let cpu = resources.and_then(|r| r.cpu().clone());
    let nano_cpus = o.cpus.map_or(0, |c| (c * 1e9) as i64);
    // `--cpus` shows as NanoCpus only (docker keeps CpuQuota/CpuPeriod at 0 then).
    let (quota, period) = if nano_cpus > 0 {
        (0, 0)
    } else {
        (
            cpu.as_ref().and_then(|c| c.quota()).unwrap_or(0),
            cpu.as_ref().and_then(|c| c.period()).unwrap_or(0),
        )
    };
    let pids_limit = resources
        .and_then(|r| r.pids().as_ref())
        .map(|p| p.limit())
        .map_or(Value::Null, Value::from);
    let log_config: Map<String, Value> = rec
        .log_opts
        .iter()
        .filter_map(|o| o.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
        .collect();
    let mut out = json!({
        "Binds": list(&o.volume),
        "ContainerIDFile": o.cidfile.clone().unwrap_or_default(),
        "ShmSize": o.shm_size.unwrap_or(64 << 20),
        "GroupAdd": if o.group_add.is_empty() { Value::Null } else { json!(o.group_add) },
        "Sysctls": o.sysctl.iter().filter_map(|s| s.split_once('=')).map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect::<Map<String, Value>>(),
        "LogConfig": {
            "Type": if rec.log_driver == "none" { "none" } else { "json-file" },
            "Config": log_config,
        },
        "NetworkMode": rec.network,
        "PidMode": o.pid.clone().unwrap_or_default(),
        "UTSMode": o.uts.clone().unwrap_or_default(),
        "CgroupnsMode": if own_cgroupns { "private" } else { "host" },
        "Devices": devices(&o.device),
        "OomScoreAdj": o.oom_score_adj.unwrap_or(0),
        "OomKillDisable": o.oom_kill_disable,
        "MemoryReservation": o.memory_reservation.unwrap_or(0),
        "MemorySwappiness": o.memory_swappiness.filter(|v| *v >= 0).map_or(Value::Null, Value::from),
        "IpcMode": crate::nsmodes::ipc_mode(o),
        "PortBindings": port_bindings(rec),
        "RestartPolicy": {
            "Name": rec.options.restart.name(),
            "MaximumRetryCount": rec.options.restart.max_retries(),
        },
        "AutoRemove": rec.auto_remove,
        "CapAdd": list(&o.cap_add),
        "CapDrop": list(&o.cap_drop),
        "Dns": rec.net.dns,
        "DnsOptions": rec.net.dns_option,
        "DnsSearch": rec.net.dns_search,
        "ExtraHosts": if rec.net.add_host.is_empty() { Value::Null } else { json!(rec.net.add_host) },
    });
    let rest = json!({
        "Privileged": o.privileged,
        "PublishAllPorts": rec.net.publish_all,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": list(&o.security_opt),
        "Tmpfs": list(&o.tmpfs),
        "Init": rec.init,
        "CgroupParent": o.cgroup_parent.clone().unwrap_or_default(),
        "CpuShares": cpu.as_ref().and_then(|c| c.shares()).unwrap_or(0),
        "Memory": memory,
        "MemorySwap": memory_swap,
        "NanoCpus": nano_cpus,
        "CpuPeriod": period,
        "CpuQuota": quota,
        "CpusetCpus": cpu.as_ref().and_then(|c| c.cpus().clone()).unwrap_or_default(),
        "CpusetMems": cpu.as_ref().and_then(|c| c.mems().clone()).unwrap_or_default(),
        "PidsLimit": pids_limit,
        "Ulimits": list(&o.ulimit),
        "VolumesFrom": if o.volumes_from.is_empty() { Value::Null } else { json!(o.volumes_from) },
        "DeviceCgroupRules": if o.device_cgroup_rule.is_empty() { Value::Null } else { json!(o.device_cgroup_rule) },
        "BlkioWeight": o.blkio_weight.unwrap_or(0),
    });
    if let (Some(out), Value::Object(rest)) = (out.as_object_mut(), rest) {
        out.extend(rest);
    }
    out
}

/// `Config`: what the container runs, from the options over the image's config.
fn config(rec: &Record, process: Option<&Process>, image_cfg: &Value) -> Value {
    let o = &rec.options;
    let cmd = if o.command.is_empty() {
        image_cfg.get("Cmd").cloned().unwrap_or(Value::Null)
    } else {
        json!(o.command)
    };
    let entrypoint = match &o.entrypoint {
        Some(e) if e.is_empty() => Value::Null,
        Some(e) => json!([e]),
        None => image_cfg.get("Entrypoint").cloned().unwrap_or(Value::Null),
    };
    let user = match &o.user {
        Some(u) => u.clone(),
        None => image_cfg
            .get("User")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let mut exposed = Map::new();
    for e in &rec.net.expose {
        exposed.insert(port_key(e), json!({}));
    }
    let working_dir = match &o.workdir {
        Some(w) => w.clone(),
        None => image_cfg
            .get("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    };
    let mut doc = json!({
        "Hostname": rec.net.hostname,
        "Domainname": o.domainname.clone().unwrap_or_default(),
        "User": user,
        "AttachStdin": false,
        "AttachStdout": !o.detach,
        "AttachStderr": !o.detach,
        "ExposedPorts": if exposed.is_empty() { Value::Null } else { Value::Object(exposed) },
        "Tty": rec.tty,
        "OpenStdin": rec.open_stdin,
        "StdinOnce": false,
        "Env": process.and_then(|p| p.env().clone()),
        "Cmd": cmd,
        "Image": rec.image,
        "Volumes": volumes(o, image_cfg),
        "WorkingDir": working_dir,
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": labels(rec, image_cfg),
        "StopSignal": o.stop_signal.clone().map(Value::String)
            .or_else(|| image_cfg.get("StopSignal").cloned())
            .unwrap_or(Value::Null),
        "StopTimeout": o.stop_timeout,
    });
    if let Some(h) = healthcheck(o, image_cfg) {
        doc["Healthcheck"] = h;
    }
    doc
}

/// `Config.Healthcheck`: the flags' check merged over the image's, `{"Test":["NONE"]}`
/// when disabled, absent when there is none.
fn healthcheck(o: &crate::options::CreateOptions, image_cfg: &Value) -> Option<Value> {
    use crate::health::HealthConfig;
    if let Some(flags) = &o.healthcheck
        && flags.disables()
    {
        return serde_json::to_value(flags).ok();
    }
    HealthConfig::effective(o.healthcheck.as_ref(), HealthConfig::of_image(image_cfg))
        .and_then(|h| serde_json::to_value(h).ok())
}

/// `Config.Volumes`: the image's `VOLUME`s and the anonymous `-v /path` ones.
fn volumes(o: &crate::options::CreateOptions, image_cfg: &Value) -> Value {
    let mut out = image_cfg
        .get("Volumes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for v in o.volume.iter().filter(|v| !v.contains(':')) {
        out.insert(v.clone(), json!({}));
    }
    if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    }
}

/// The image's labels overlaid with the container's `--label`s.
pub(crate) fn labels(rec: &Record, image_cfg: &Value) -> Value {
    if !rec.labels.is_empty() {
        return json!(rec.labels);
    }
    image_cfg.get("Labels").cloned().unwrap_or(json!({}))
}

/// Docker's container inspect document.
///
/// # Errors
/// None today (kept for documents that need to read more).
pub fn container_document(engine: &Engine, rec: &Record) -> Result<Value> {
    let containers = Containers::new(&engine.config.root);
    let dir = containers.dir(&rec.id);
    let spec: Option<Spec> = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let process = spec.as_ref().and_then(|s| s.process().clone());
    let resources = spec
        .as_ref()
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.resources().clone());
    let own_cgroupns = spec
        .as_ref()
        .and_then(|s| s.linux().as_ref())
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Cgroup)
        });
    let image_cfg = image_config(engine, rec);
    let st = &rec.state;
    let active = rec.is_active();
    let running = matches!(st.status, Status::Running | Status::Paused);

    let rootfs = spec
        .as_ref()
        .and_then(|s| s.root().as_ref())
        .map(|r| r.path().to_string_lossy().into_owned())
        .unwrap_or_default();

    let host_config = host_config(rec, resources.as_ref(), own_cgroupns);
    let config = config(rec, process.as_ref(), &image_cfg);
    let mut doc = json!({
        "Id": rec.id,
        "Created": rec.created,
        "Path": rec.path,
        "Args": rec.args,
        "State": {
            "Status": st.status.as_str(),
            "Running": running,
            "Paused": st.status == Status::Paused,
            "Restarting": st.status == Status::Restarting,
            "OOMKilled": st.oom_killed,
            "Dead": st.status == Status::Dead,
            "Pid": if active { st.pid } else { 0 },
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": time_or_zero(&st.started_at),
            "FinishedAt": time_or_zero(&st.finished_at),
            "Health": st.health.as_ref().map(crate::health::document),
        },
        "Image": rec.image_id,
        "ResolvConfPath": dir.join("resolv.conf"),
        "HostnamePath": dir.join("hostname"),
        "HostsPath": dir.join("hosts"),
        "LogPath": log_path(engine, &rec.id),
        "Name": format!("/{}", rec.name),
        "RestartCount": st.restart_count,
        "Driver": rec.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": host_config,
        "GraphDriver": {
            "Name": rec.driver,
            "Data": {"MergedDir": rootfs},
        },
        "Mounts": crate::usermounts::document(&dir).unwrap_or_else(|| mounts(rec)),
        "Config": config,
        "NetworkSettings": network_settings(engine, rec),
    });
    // As docker, no `Health` without a health check.
    if st.health.is_none()
        && let Some(state) = doc["State"].as_object_mut()
    {
        state.remove("Health");
    }
    Ok(doc)
}
