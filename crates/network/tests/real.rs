//! Root integration tests on the real kernel: bridges, veths, nftables, namespaces.
//!
//! Each test runs inside its own throw-away "host" network namespace (see
//! `support::Sandbox`), except `host_namespace_publish_on_localhost`, which runs in the
//! real host namespace with unique names and removes everything it made. Containers are
//! bare network namespaces held by a sleeping process. Traffic goes only to 127.0.0.1
//! and to addresses the tests created; every loop is bounded.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use network::{AttachOptions, CreateOptions, Error, HostsConfig, HostsSpec, PortSpec, Protocol};
use support::{NsHolder, Sandbox, TestNet, addrs_of, free_port, host_links, http_get};

fn subnet(s: &str) -> Option<network::Ipv4Net> {
    Some(s.parse().expect("subnet"))
}

/// Creates a user network with a subnet.
fn create(t: &TestNet, name: &str, cidr: &str) -> network::NetworkInfo {
    let opts = CreateOptions {
        subnet: subnet(cidr),
        ..CreateOptions::default()
    };
    t.nets.create(name, &opts).expect("create network")
}

fn named(name: &str) -> AttachOptions {
    AttachOptions {
        name: Some(name.to_string()),
        ..AttachOptions::default()
    }
}

fn with_hosts(t: &TestNet, name: &str, aliases: &[&str]) -> AttachOptions {
    AttachOptions {
        name: Some(name.to_string()),
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        hosts: Some(HostsConfig {
            path: t.hosts_file(name),
            spec: HostsSpec {
                hostname: format!("{name}-host"),
                ..HostsSpec::default()
            },
        }),
        ..AttachOptions::default()
    }
}

#[test]
fn user_network_containers_talk_by_ip_name_and_tcp_but_not_across_networks() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let opts = |s| CreateOptions {
            subnet: subnet(s),
            ..CreateOptions::default()
        };
        t.nets.create("front", &opts("10.31.1.0/24")).unwrap();
        t.nets.create("back", &opts("10.31.2.0/24")).unwrap();
        let (c1, c2, c3) = (NsHolder::new(), NsHolder::new(), NsHolder::new());
        let a1 = t
            .nets
            .attach(&c1.netns(), "c1", "front", &with_hosts(&t, "one", &[]))
            .unwrap();
        let a2 = t
            .nets
            .attach(&c2.netns(), "c2", "front", &with_hosts(&t, "two", &["db"]))
            .unwrap();
        let a3 = t
            .nets
            .attach(&c3.netns(), "c3", "back", &named("three"))
            .unwrap();
        assert_eq!(a1.ip, Ipv4Addr::new(10, 31, 1, 2));
        assert_eq!(a2.ip, Ipv4Addr::new(10, 31, 1, 3));
        assert_eq!(a1.ifname, "eth0");
        assert_eq!(a1.mac.to_string(), "02:42:0a:1f:01:02");

        // Inside: eth0 with the address and MAC, lo up, default route via the gateway.
        let addr = c1.ip_json(&["addr"]);
        assert_eq!(addrs_of(&addr, "eth0"), vec!["10.31.1.2/24"]);
        let eth0 = addr
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["ifname"] == "eth0")
            .unwrap();
        assert_eq!(eth0["address"], "02:42:0a:1f:01:02");
        assert_eq!(addrs_of(&addr, "lo"), vec!["127.0.0.1/8"]);
        let routes = c1.ip_json(&["route"]);
        let default = routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == "default")
            .unwrap();
        assert_eq!(default["gateway"], "10.31.1.1");

        // By IP, both ways.
        assert!(c1.ping("10.31.1.3"), "c1 -> c2 by IP");
        assert!(c2.ping("10.31.1.2"), "c2 -> c1 by IP");

        // By name and alias, through the hosts files the library maintains (bind
        // mounted on /etc/hosts in a private mount namespace, as a container has).
        let hosts1 = std::fs::read_to_string(t.dir.path().join("one.hosts")).unwrap();
        assert!(hosts1.contains("10.31.1.2\tone-host\n"), "{hosts1}");
        assert!(hosts1.contains("10.31.1.3\ttwo c2 db\n"), "{hosts1}");
        let hosts2 = std::fs::read_to_string(t.dir.path().join("two.hosts")).unwrap();
        assert!(
            hosts2.contains("10.31.1.2\tone c1\n"),
            "peer file updated on join: {hosts2}"
        );
        let by_name = |name: &str| {
            let script = format!(
                "mount --bind {} /etc/hosts && busybox ping -c 1 -W 1 {name}",
                t.dir.path().join("one.hosts").display()
            );
            (0..3).any(|_| {
                c1.exec(5, &["unshare", "--mount", "sh", "-c", &script])
                    .status
                    .success()
            })
        };
        assert!(by_name("two"), "c1 -> c2 by container name");
        assert!(by_name("db"), "c1 -> c2 by network alias");

        // TCP with busybox nc.
        let listener = c2.spawn(&["timeout", "60", "busybox", "nc", "-l", "-p", "7000"]);
        let mut sent = false;
        for _ in 0..30 {
            let out = c1.exec(
                5,
                &[
                    "sh",
                    "-c",
                    "echo hello-over-tcp | busybox nc -w 2 10.31.1.3 7000",
                ],
            );
            if out.status.success() {
                sent = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(sent, "nc client could not connect");
        assert_eq!(listener.output().trim(), "hello-over-tcp");

        // Outbound traffic of both networks is masqueraded (only the rule can be
        // checked: there is no outside network here).
        let masq = t.nft_elements("masq_nets");
        for net in ["10.31.1.0", "10.31.2.0"] {
            let want = serde_json::json!({"prefix": {"addr": net, "len": 24}});
            assert!(masq.contains(&want), "{masq:?}");
        }

        // Another network cannot reach them, although the host routes between bridges
        // (ip_forward was turned on for these non-internal networks).
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );
        assert!(c3.ping("10.31.2.1"), "c3 reaches its own gateway");
        assert!(
            !c3.ping_once(&a1.ip.to_string()),
            "c3 (back) must not reach c1 (front)"
        );
        assert!(
            !c1.ping_once(&a3.ip.to_string()),
            "c1 (front) must not reach c3 (back)"
        );
        let out = c3.exec(5, &["busybox", "nc", "-w", "1", "10.31.1.3", "7000"]);
        assert!(!out.status.success(), "c3 must not open TCP to c2");

        // Leaving updates the peer's hosts file.
        t.nets.detach("c2", "front").unwrap();
        let hosts1 = std::fs::read_to_string(t.dir.path().join("one.hosts")).unwrap();
        assert!(!hosts1.contains("10.31.1.3"), "{hosts1}");
    });
}

#[test]
fn internal_network_has_no_default_route_and_no_way_out() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let internal = CreateOptions {
            subnet: subnet("10.32.1.0/24"),
            internal: true,
            ..CreateOptions::default()
        };
        // The sandbox starts with forwarding off whatever the real host has (a new
        // namespace would copy the host's value): the check below means something.
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "0"
        );
        let info = t.nets.create("secret", &internal).unwrap();
        assert!(info.internal);
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "0",
            "an internal network does not turn on forwarding"
        );
        let (c1, c2) = (NsHolder::new(), NsHolder::new());
        t.nets
            .attach(&c1.netns(), "c1", "secret", &named("a"))
            .unwrap();
        t.nets
            .attach(&c2.netns(), "c2", "secret", &named("b"))
            .unwrap();
        let routes = c1.ip_json(&["route"]);
        assert!(
            routes
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["dst"] != "default"),
            "internal network must not give a default route: {routes}"
        );
        assert!(
            c1.ping("10.32.1.3"),
            "containers of one internal network talk"
        );
        // Not masqueraded (no way out), and marked internal in the firewall.
        assert!(t.nft_elements("masq_nets").is_empty());
        assert_eq!(
            t.nft_elements("internal"),
            vec![serde_json::json!(info.bridge())]
        );

        // With forwarding on (another, non-internal network), traffic leaving the
        // internal bridge is still dropped.
        create(&t, "open", "10.32.2.0/24");
        let c3 = NsHolder::new();
        t.nets
            .attach(&c3.netns(), "c3", "open", &named("c"))
            .unwrap();
        // Give the internal container a route out, as a hostile process could, and
        // check the firewall still drops it.
        let out = c1.exec(
            5,
            &["ip", "route", "add", "10.32.2.0/24", "via", "10.32.1.1"],
        );
        assert!(out.status.success());
        assert!(
            !c1.ping_once("10.32.2.2"),
            "internal -> other network must be dropped"
        );
    });
}

#[test]
fn published_port_serves_busybox_httpd_to_localhost_host_addresses_and_containers() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        create(&t, "web", "10.33.1.0/24");
        let content: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let www = support::www(t.dir.path(), &content);
        let server = NsHolder::new();
        let (p_local, p_any) = (free_port(), free_port());
        let opts = AttachOptions {
            name: Some("srv".into()),
            ports: [
                PortSpec::parse(&format!("127.0.0.1:{p_local}:80")).unwrap(),
                PortSpec::parse(&format!("{p_any}:80/tcp")).unwrap(),
            ]
            .concat(),
            ..AttachOptions::default()
        };
        let att = t.nets.attach(&server.netns(), "srv", "web", &opts).unwrap();
        assert_eq!(att.ports.len(), 2);
        assert_eq!(att.ports[0].host_ip, Ipv4Addr::LOCALHOST);
        assert_eq!(att.ports[0].host_port, p_local);
        assert_eq!(att.ports[1].host_ip, Ipv4Addr::UNSPECIFIED);
        let _httpd = server.httpd(&www);

        // From the host over 127.0.0.1, through the published port.
        let body = http_get(Ipv4Addr::LOCALHOST, p_local, "/file.bin").expect("GET via 127.0.0.1");
        assert_eq!(body, content);
        // The port published on every address answers on 127.0.0.1 and on the host's
        // address on the bridge (an address this test created).
        let body = http_get(Ipv4Addr::LOCALHOST, p_any, "/file.bin")
            .expect("GET via 127.0.0.1, any-address port");
        assert_eq!(body, content);
        let body =
            http_get(att.gateway, p_any, "/file.bin").expect("GET via the host's bridge address");
        assert_eq!(body, content);
        // The 127.0.0.1-only port does not answer on other host addresses.
        assert!(
            std::net::TcpStream::connect_timeout(
                &std::net::SocketAddr::from((att.gateway, p_local)),
                std::time::Duration::from_secs(1)
            )
            .is_err()
        );

        // From another container, through the host's address and the published port.
        let client = NsHolder::new();
        t.nets
            .attach(&client.netns(), "cli", "web", &named("cli"))
            .unwrap();
        let url = format!("http://{}:{p_any}/file.bin", att.gateway);
        let out = client.exec(10, &["busybox", "wget", "-q", "-O", "-", &url]);
        assert!(
            out.status.success(),
            "wget from a container: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, content);

        // Host port in use: by this container, and by a host process.
        let other = NsHolder::new();
        let clash = AttachOptions {
            ports: PortSpec::parse(&format!("127.0.0.1:{p_local}:80")).unwrap(),
            ..AttachOptions::default()
        };
        let err = t
            .nets
            .attach(&other.netns(), "other", "web", &clash)
            .unwrap_err();
        assert!(matches!(err, Error::PortInUse { .. }), "{err}");
        assert!(err.to_string().contains("srv"), "{err}");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = listener.local_addr().unwrap().port();
        let clash = AttachOptions {
            ports: PortSpec::parse(&format!("127.0.0.1:{busy}:80")).unwrap(),
            ..AttachOptions::default()
        };
        let err = t
            .nets
            .attach(&other.netns(), "other", "web", &clash)
            .unwrap_err();
        assert!(
            matches!(err, Error::PortInUse { port, .. } if port == busy),
            "{err}"
        );
        // A failed attach leaves no endpoint.
        assert!(t.nets.attachments("other").unwrap().is_empty());

        // Random host port (-p 80) and UDP are published too.
        let random = AttachOptions {
            ports: [
                PortSpec::parse("80").unwrap(),
                PortSpec::parse("53/udp").unwrap(),
            ]
            .concat(),
            ..AttachOptions::default()
        };
        let att2 = t
            .nets
            .attach(&other.netns(), "other", "web", &random)
            .unwrap();
        assert!(att2.ports.iter().all(|p| p.host_port != 0));
        assert_eq!(att2.ports[1].protocol, Protocol::Udp);

        // Detach removes the DNAT elements.
        t.nets.detach("srv", "web").unwrap();
        let left = t.nft_elements("publish_ip");
        assert!(left.is_empty(), "{left:?}");
        let refused = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, p_local)),
            std::time::Duration::from_secs(2),
        );
        assert!(refused.is_err(), "port no longer published");
    });
}

#[test]
fn host_namespace_publish_on_localhost() {
    require_root!();
    // The real host namespace: unique bridge and table names, no ip_forward change,
    // everything purged on drop.
    let mut t = TestNet::with_config(|c| c.manage_ip_forward = false);
    t.purge_on_drop = true;
    let all_route_localnet = "/proc/sys/net/ipv4/conf/all/route_localnet";
    let all_route_localnet_before = std::fs::read_to_string(all_route_localnet)
        .unwrap()
        .trim()
        .to_string();
    let mut created = None;
    // A /24 in 10.200-254.x.0, retried if the host (or a parallel test) uses it.
    for i in 0..20u32 {
        let seed = (std::process::id().wrapping_mul(7919) + i * 104_729) % (55 * 256);
        let s = format!("10.{}.{}.0/24", 200 + seed / 256, seed % 256);
        match t.nets.create(
            "hostnet",
            &CreateOptions {
                subnet: subnet(&s),
                ..CreateOptions::default()
            },
        ) {
            Ok(info) => {
                created = Some(info);
                break;
            }
            Err(Error::SubnetOverlapsRoute { .. }) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    let info = created.expect("a free subnet");
    let content = b"served-through-the-host-namespace".to_vec();
    let www = support::www(t.dir.path(), &content);
    let c = NsHolder::new();
    let port = free_port();
    let opts = AttachOptions {
        ports: PortSpec::parse(&format!("127.0.0.1:{port}:80")).unwrap(),
        ..AttachOptions::default()
    };
    let att = t
        .nets
        .attach(&c.netns(), "hostc", "hostnet", &opts)
        .unwrap();
    assert!(info.subnet().unwrap().contains(att.ip));
    assert!(host_links().contains(&info.bridge().to_string()));
    let route_localnet = format!("/proc/sys/net/ipv4/conf/{}/route_localnet", info.bridge());
    assert_eq!(std::fs::read_to_string(route_localnet).unwrap().trim(), "1");
    // The host's own value, whatever it is (kube-proxy sets it to 1), is left alone.
    assert_eq!(
        std::fs::read_to_string(all_route_localnet).unwrap().trim(),
        all_route_localnet_before,
        "route_localnet is set on our bridge only"
    );
    let _httpd = c.httpd(&www);
    let body = http_get(Ipv4Addr::LOCALHOST, port, "/file.bin").expect("GET via 127.0.0.1");
    assert_eq!(body, content);
    t.nets.detach("hostc", "hostnet").unwrap();
    assert!(!host_links().contains(&att.host_veth));
    t.nets.remove("hostnet").unwrap();
    assert!(!host_links().contains(&info.bridge().to_string()));
    t.nets.purge().unwrap();
    assert!(t.nft_table_json().is_none(), "table deleted");
}

#[test]
fn fifty_attach_detach_cycles_leave_nothing_behind() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let info = create(&t, "cycle", "10.34.0.0/24");
        let bridge_mac = || {
            let out = std::process::Command::new("ip")
                .args(["-j", "link", "show", info.bridge()])
                .output()
                .unwrap();
            let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            json[0]["address"].as_str().unwrap().to_string()
        };
        // Fixed, derived from the gateway 10.34.0.1, and never changed by ports.
        assert_eq!(bridge_mac(), "02:42:0a:22:00:01");
        let links_before: BTreeSet<String> = host_links().into_iter().collect();
        let containers: Vec<NsHolder> = (0..5).map(|_| NsHolder::new()).collect();
        let mut seen_ips = BTreeSet::new();
        for i in 0..50 {
            let c = &containers[i % containers.len()];
            let id = format!("cycle{i}");
            let opts = AttachOptions {
                ports: PortSpec::parse("127.0.0.1::80").unwrap(),
                hosts: Some(HostsConfig {
                    path: t.hosts_file(&id),
                    spec: HostsSpec::default(),
                }),
                ..AttachOptions::default()
            };
            let att = t.nets.attach(&c.netns(), &id, "cycle", &opts).unwrap();
            seen_ips.insert(att.ip);
            assert!(host_links().contains(&att.host_veth));
            assert_eq!(t.nft_elements("publish_ip").len(), 1);
            assert_eq!(bridge_mac(), "02:42:0a:22:00:01");
            assert!(t.nets.detach(&id, "cycle").unwrap().detached);
            assert!(
                !t.nets.detach(&id, "cycle").unwrap().detached,
                "second detach is a no-op"
            );
        }
        // Round-robin allocation walked the pool instead of reusing one address.
        assert!(seen_ips.len() > 40, "{seen_ips:?}");
        let links_after: BTreeSet<String> = host_links().into_iter().collect();
        assert_eq!(links_before, links_after, "no veth left on the host side");
        for c in &containers {
            assert_eq!(
                c.extra_links(),
                Vec::<String>::new(),
                "no interface left in the container"
            );
        }
        let out = std::process::Command::new("ip")
            .args(["-j", "addr"])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let all: Vec<String> = json
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|l| addrs_of(&json, l["ifname"].as_str().unwrap()))
            .collect();
        assert_eq!(
            all,
            vec!["127.0.0.1/8".to_string(), "10.34.0.1/24".to_string()],
            "only lo and the bridge"
        );
        assert!(t.nft_elements("publish_ip").is_empty());
        assert!(t.nft_elements("publish_any").is_empty());
        assert!(
            t.nets.inspect("cycle").unwrap().containers.is_empty(),
            "no IPAM entry left"
        );
        // The network's own elements stay until it is removed, then go too.
        assert_eq!(t.nft_elements("bridges").len(), 1);
        t.nets.remove("cycle").unwrap();
        for set in ["bridges", "intra", "nets", "masq_nets", "internal"] {
            assert!(t.nft_elements(set).is_empty(), "{set} not empty after rm");
        }
        assert!(!host_links().contains(&info.bridge().to_string()));
    });
}

#[test]
fn ten_concurrent_attaches_get_ten_distinct_addresses() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        create(&t, "busy", "10.35.0.0/24");
        let containers: Vec<NsHolder> = (0..10).map(|_| NsHolder::new()).collect();
        // Each thread gets its own handle, as separate processes would.
        let config = t.nets.config().clone();
        let atts: Vec<network::Attachment> = std::thread::scope(|s| {
            let handles: Vec<_> = containers
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let config = config.clone();
                    s.spawn(move || {
                        let nets = network::Networks::new(config).unwrap();
                        nets.attach(
                            &c.netns(),
                            &format!("con{i}"),
                            "busy",
                            &AttachOptions::default(),
                        )
                        .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ips: BTreeSet<Ipv4Addr> = atts.iter().map(|a| a.ip).collect();
        assert_eq!(ips.len(), 10, "{ips:?}");
        for (c, a) in containers.iter().zip(&atts) {
            let addr = c.ip_json(&["addr"]);
            assert_eq!(addrs_of(&addr, "eth0"), vec![format!("{}/24", a.ip)]);
        }
        assert_eq!(t.nets.inspect("busy").unwrap().containers.len(), 10);
        assert!(containers[0].ping(&atts[9].ip.to_string()));
    });
}

#[test]
fn recover_cleans_up_after_a_killed_container() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        create(&t, "crash", "10.36.0.0/24");
        let mut dead = NsHolder::new();
        let alive = NsHolder::new();
        let ports = AttachOptions {
            ports: PortSpec::parse("127.0.0.1::80").unwrap(),
            ..with_hosts(&t, "dead", &[])
        };
        let d = t
            .nets
            .attach(&dead.netns(), "dead", "crash", &ports)
            .unwrap();
        t.nets
            .attach(
                &alive.netns(),
                "alive",
                "crash",
                &with_hosts(&t, "alive", &[]),
            )
            .unwrap();
        let alive_hosts = t.dir.path().join("alive.hosts");
        assert!(
            std::fs::read_to_string(&alive_hosts)
                .unwrap()
                .contains(&d.ip.to_string())
        );

        // The container and its monitor die by SIGKILL: nobody detaches.
        dead.kill();
        let recovered = t.nets.recover(|id| id != "dead").unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].container_id, "dead");
        assert_eq!(recovered[0].ip, d.ip);
        assert!(t.nets.attachments("dead").unwrap().is_empty());
        assert_eq!(t.nets.attachments("alive").unwrap().len(), 1);
        assert!(!host_links().contains(&d.host_veth));
        assert!(t.nft_elements("publish_ip").is_empty());
        assert!(
            !std::fs::read_to_string(&alive_hosts)
                .unwrap()
                .contains(&d.ip.to_string())
        );
        // Nothing more to do the second time; detach after recover is a no-op.
        assert!(t.nets.recover(|id| id != "dead").unwrap().is_empty());
        assert!(!t.nets.detach("dead", "crash").unwrap().detached);
    });
}

#[test]
fn connect_and_disconnect_a_running_container() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        for (name, s) in [("one", "10.37.1.0/24"), ("two", "10.37.2.0/24")] {
            t.nets
                .create(
                    name,
                    &CreateOptions {
                        subnet: subnet(s),
                        ..CreateOptions::default()
                    },
                )
                .unwrap();
        }
        let c = NsHolder::new();
        let peer = NsHolder::new();
        t.nets.attach(&c.netns(), "c", "one", &named("c")).unwrap();
        t.nets
            .attach(&peer.netns(), "p", "two", &named("p"))
            .unwrap();
        assert!(!c.ping_once("10.37.2.2"), "not connected yet");
        let second = t
            .nets
            .attach(
                &c.netns(),
                "c",
                "two",
                &AttachOptions {
                    ip: Some(Ipv4Addr::new(10, 37, 2, 50)),
                    ..named("c")
                },
            )
            .unwrap();
        assert_eq!(second.ifname, "eth1");
        assert_eq!(second.ip, Ipv4Addr::new(10, 37, 2, 50));
        let addr = c.ip_json(&["addr"]);
        assert_eq!(addrs_of(&addr, "eth1"), vec!["10.37.2.50/24"]);
        let routes = c.ip_json(&["route"]);
        let default = routes
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dst"] == "default")
            .unwrap();
        assert_eq!(
            default["gateway"], "10.37.1.1",
            "the first network keeps the default route"
        );
        assert!(c.ping("10.37.2.2"), "connected: reaches the second network");
        let names: Vec<String> = t
            .nets
            .attachments("c")
            .unwrap()
            .into_iter()
            .map(|a| a.network)
            .collect();
        assert_eq!(names, vec!["one", "two"]);

        assert!(t.nets.detach("c", "two").unwrap().detached);
        let addr = c.ip_json(&["addr"]);
        assert!(addrs_of(&addr, "eth1").is_empty(), "eth1 gone");
        assert_eq!(
            addrs_of(&addr, "eth0"),
            vec!["10.37.1.2/24"],
            "eth0 untouched"
        );
        assert!(!t.nets.detach("c", "two").unwrap().detached);
        t.nets.detach_all("c").unwrap();
        assert!(t.nets.attachments("c").unwrap().is_empty());
    });
}

#[test]
fn default_network_on_first_use_and_clear_errors() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let c = NsHolder::new();
        let att = t
            .nets
            .attach(&c.netns(), "c", "bridge", &named("c"))
            .unwrap();
        let default = t.nets.inspect("bridge").unwrap();
        assert_eq!(default.bridge(), t.nets.config().default_bridge);
        assert_eq!(default.subnet().unwrap().to_string(), "172.18.0.0/16");
        assert_eq!(default.gateway().unwrap(), Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(att.ip, Ipv4Addr::new(172, 18, 0, 2));
        assert!(host_links().contains(&default.bridge().to_string()));
        let json = serde_json::to_value(&default).unwrap();
        assert_eq!(json["Containers"]["c"]["IPv4Address"], "172.18.0.2/16");
        assert_eq!(json["Containers"]["c"]["MacAddress"], "02:42:ac:12:00:02");
        assert_eq!(json["Containers"]["c"]["Name"], "c");
        assert!(c.ping("172.18.0.1"));

        // Attaching the caller's own namespace is refused (it would put the interface
        // into the host).
        let own = network::Netns::Path("/proc/thread-self/ns/net".into());
        let err = t
            .nets
            .attach(&own, "self", "bridge", &AttachOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("host's own network namespace"),
            "{err}"
        );
        assert!(t.nets.attachments("self").unwrap().is_empty());

        let err = t.nets.remove("bridge").unwrap_err();
        assert!(matches!(err, Error::PredefinedNetwork { .. }), "{err}");
        let err = t
            .nets
            .create("host", &CreateOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::PredefinedNetwork { .. }), "{err}");
        let overlap = CreateOptions {
            subnet: subnet("172.18.5.0/24"),
            ..CreateOptions::default()
        };
        let err = t.nets.create("clash", &overlap).unwrap_err();
        assert_eq!(
            err.to_string(),
            "subnet 172.18.5.0/24 overlaps subnet 172.18.0.0/16 of network bridge"
        );
        // The refused network leaves no lock file of its bridge (never made) behind.
        let stray: Vec<String> = std::fs::read_dir(t.dir.path().join("locks"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("bridge-bt-"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
        let auto = t.nets.create("auto", &CreateOptions::default()).unwrap();
        assert_eq!(auto.subnet().unwrap().to_string(), "172.19.0.0/16");
        assert!(auto.bridge().starts_with("bt-") && auto.bridge().len() == 15);
        let err = t
            .nets
            .create("auto", &CreateOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::NetworkExists { .. }), "{err}");
        let err = t
            .nets
            .attach(&c.netns(), "x", "nosuchnet", &AttachOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::NetworkNotFound { .. }), "{err}");
        let err = t
            .nets
            .attach(&c.netns(), "c", "bridge", &AttachOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyAttached { .. }), "{err}");

        let c2 = NsHolder::new();
        let outside = AttachOptions {
            ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
            ..AttachOptions::default()
        };
        let err = t
            .nets
            .attach(&c2.netns(), "c2", "auto", &outside)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "address 10.0.0.5 is outside subnet 172.19.0.0/16 of network auto"
        );
        let on_default = AttachOptions {
            ip: Some(Ipv4Addr::new(172, 18, 0, 9)),
            ..AttachOptions::default()
        };
        let err = t
            .nets
            .attach(&c2.netns(), "c2", "bridge", &on_default)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--ip is only supported on user-defined networks, not on bridge"
        );
        assert!(
            t.nets.attachments("c2").unwrap().is_empty(),
            "failed attaches leave nothing"
        );
        assert_eq!(c2.extra_links(), Vec::<String>::new(), "only lo in c2");

        // A taken address; rm refused while attached; prune keeps used networks.
        let a2 = t
            .nets
            .attach(&c2.netns(), "c2", "auto", &named("c2"))
            .unwrap();
        let c3 = NsHolder::new();
        let taken = AttachOptions {
            ip: Some(a2.ip),
            ..AttachOptions::default()
        };
        let err = t
            .nets
            .attach(&c3.netns(), "c3", "auto", &taken)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "address {} is already in use in network auto by container c2",
                a2.ip
            )
        );
        assert_eq!(
            c3.extra_links(),
            Vec::<String>::new(),
            "failed attach leaves no interface"
        );
        let err = t.nets.remove("auto").unwrap_err();
        assert_eq!(err.to_string(), "network auto has active endpoints: c2");
        create(&t, "empty", "10.38.0.0/24");
        assert_eq!(t.nets.prune().unwrap(), vec!["empty".to_string()]);
        let names: Vec<String> = t.nets.list().unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, vec!["bridge", "auto"]);
        let short = &t.nets.inspect("auto").unwrap().id[..12];
        assert_eq!(
            t.nets.inspect(short).unwrap().name,
            "auto",
            "found by ID prefix"
        );
    });
}

#[test]
fn loopback_up_for_network_none() {
    require_root!();
    let c = NsHolder::new();
    assert!(c.flags("lo").iter().all(|f| f != "UP"));
    network::Networks::loopback_up(&c.netns()).unwrap();
    assert_eq!(c.extra_links(), Vec::<String>::new(), "only lo");
    assert!(c.flags("lo").iter().any(|f| f == "UP"));
    assert!(c.ping("127.0.0.1"));
}

#[test]
fn a_table_deleted_behind_our_back_is_restored_by_the_next_publish() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let info = create(&t, "repair", "10.39.0.0/24");
        let out = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &t.table()])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(t.nft_table_json().is_none());
        let c = NsHolder::new();
        let opts = AttachOptions {
            ports: PortSpec::parse("127.0.0.1::80").unwrap(),
            ..AttachOptions::default()
        };
        let att = t.nets.attach(&c.netns(), "c", "repair", &opts).unwrap();
        assert_eq!(t.nft_elements("publish_ip").len(), 1);
        let bridges = t.nft_elements("bridges");
        assert_eq!(
            bridges,
            vec![serde_json::json!(info.bridge())],
            "network elements restored"
        );
        // Detach after another deletion is still fine (idempotent removal).
        let out = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &t.table()])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(t.nets.detach("c", "repair").unwrap().detached);
        assert!(!host_links().contains(&att.host_veth));
    });
}

/// Runs `ip ARGS` (in the calling thread's namespace: the sandbox's) and expects success.
fn ip(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `ip` says about one link that does not move by itself (timers and IPv6
/// duplicate address detection do): kind, MAC, flags, MTU, master, alias, IPv4
/// addresses. To compare before and after.
fn link_snapshot(name: &str) -> serde_json::Value {
    let link: serde_json::Value =
        serde_json::from_str(&ip(&["-j", "-d", "link", "show", "dev", name])).expect("ip json");
    let addr: serde_json::Value =
        serde_json::from_str(&ip(&["-j", "addr", "show", "dev", name])).expect("ip json");
    let l = &link[0];
    serde_json::json!({
        "kind": l["linkinfo"]["info_kind"],
        "address": l["address"],
        "flags": l["flags"],
        "mtu": l["mtu"],
        "master": l["master"],
        "alias": l["ifalias"],
        "ipv4": addrs_of(&addr, name),
    })
}

/// Names of the ports of a bridge.
fn ports_of(bridge: &str) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&ip(&["-j", "link", "show", "master", bridge])).expect("ip json");
    json.as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["ifname"].as_str().map(str::to_string))
        .collect()
}

fn sysctl(path: &str) -> String {
    std::fs::read_to_string(path)
        .expect("read sysctl")
        .trim()
        .to_string()
}

fn is_up(name: &str) -> bool {
    let json: serde_json::Value =
        serde_json::from_str(&ip(&["-j", "link", "show", "dev", name])).expect("ip json");
    json[0]["flags"]
        .as_array()
        .is_some_and(|flags| flags.iter().any(|f| f == "UP"))
}

#[test]
fn default_bridge_left_by_a_deleted_root_is_adopted_by_the_next_root() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let a = TestNet::new();
        let bridge = a.nets.config().default_bridge.clone();
        let ca = NsHolder::new();
        let att_a = a
            .nets
            .attach(&ca.netns(), "ca", "bridge", &named("ca"))
            .unwrap();
        assert_eq!(att_a.ip, Ipv4Addr::new(172, 18, 0, 2));
        // `rm -rf ROOT`: the records go; the bridge, the table and the still running
        // container's veth stay in the kernel.
        std::fs::remove_dir_all(&a.nets.config().state_dir).unwrap();

        let b = TestNet::sharing(&a);
        let info = b.nets.ensure_default().expect("the left bridge is adopted");
        assert_eq!(info.bridge(), bridge);
        assert_eq!(info.gateway(), Some(Ipv4Addr::new(172, 18, 0, 1)));
        let cb = NsHolder::new();
        let att_b = b
            .nets
            .attach(&cb.netns(), "cb", "bridge", &named("cb"))
            .expect("attach on the adopted bridge");
        assert_eq!(att_b.bridge, bridge);
        assert_ne!(
            att_b.ip, att_a.ip,
            "the dead root's running container keeps its address"
        );
        let addr: serde_json::Value = serde_json::from_str(&ip(&["-j", "addr"])).unwrap();
        assert_eq!(addrs_of(&addr, &bridge), vec!["172.18.0.1/16"]);
        assert_eq!(
            sysctl(&format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet")),
            "1"
        );
        assert_eq!(b.nft_elements("bridges"), vec![serde_json::json!(bridge)]);
        assert!(cb.ping("172.18.0.1"), "B's container reaches the gateway");
        assert!(
            cb.ping(&att_a.ip.to_string()),
            "and the old container on the same bridge"
        );
        // Idempotent: a second ensure_default changes nothing.
        assert_eq!(b.nets.ensure_default().unwrap().id, info.id);

        // B's container leaving does not take the shared bridge (nor A's container).
        assert!(b.nets.detach("cb", "bridge").unwrap().detached);
        assert!(host_links().contains(&bridge));
        assert!(ports_of(&bridge).contains(&att_a.host_veth));
        assert!(
            ca.ping("172.18.0.1"),
            "A's container still reaches the gateway"
        );
    });
}

#[test]
fn a_bare_bridge_of_the_default_name_is_adopted_and_what_goes_missing_is_restored() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let bridge = t.nets.config().default_bridge.clone();
        let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
        let complete = |t: &TestNet| {
            let addr: serde_json::Value = serde_json::from_str(&ip(&["-j", "addr"])).unwrap();
            assert_eq!(addrs_of(&addr, &bridge), vec!["172.18.0.1/16"]);
            assert!(is_up(&bridge), "{bridge} is up");
            assert_eq!(sysctl(&localnet), "1");
            assert_eq!(t.nft_elements("bridges"), vec![serde_json::json!(bridge)]);
            let masq = t.nft_elements("masq_nets");
            let want = serde_json::json!({"prefix": {"addr": "172.18.0.0", "len": 16}});
            assert_eq!(masq, vec![want]);
        };
        // A bridge of that name with no address, down: adopted and completed.
        ip(&["link", "add", &bridge, "type", "bridge"]);
        t.nets.ensure_default().expect("a bare bridge is adopted");
        complete(&t);

        // Someone removes pieces by hand: the next attach puts them back.
        ip(&["addr", "flush", "dev", &bridge]);
        ip(&["link", "set", &bridge, "down"]);
        std::fs::write(&localnet, "0").unwrap();
        let out = std::process::Command::new("nft")
            .args(["delete", "table", "ip", &t.table()])
            .output()
            .unwrap();
        assert!(out.status.success());
        let c = NsHolder::new();
        t.nets
            .attach(&c.netns(), "c", "bridge", &named("c"))
            .unwrap();
        complete(&t);
        assert!(c.ping("172.18.0.1"), "the container reaches the gateway");
    });
}

#[test]
fn a_conflicting_default_bridge_is_refused_with_a_clear_error_and_left_untouched() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let t = TestNet::new();
        let bridge = t.nets.config().default_bridge.clone();
        let hint = format!(
            ": delete it (ip link delete {bridge}) or choose another --default-bridge/--default-subnet"
        );
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", "10.1.0.1/24", "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        let before = link_snapshot(&bridge);
        let localnet = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");

        let err = t.nets.ensure_default().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("bridge {bridge} exists with address 10.1.0.1/24, not 172.18.0.1/16{hint}")
        );
        assert_eq!(err.kind(), network::ErrorKind::FailedPrecondition);
        // The same through attach (the default network is created on first use).
        let c = NsHolder::new();
        let err = t
            .nets
            .attach(&c.netns(), "c", "bridge", &named("c"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("bridge {bridge} exists with address 10.1.0.1/24, not 172.18.0.1/16{hint}")
        );

        // Nothing changed: the bridge, its address, its sysctl; no record, no table,
        // no veth, nothing in the container.
        assert_eq!(link_snapshot(&bridge), before);
        assert_eq!(sysctl(&localnet), "0");
        assert!(ports_of(&bridge).is_empty());
        assert!(t.nets.list().unwrap().is_empty(), "no network recorded");
        assert!(t.nft_table_json().is_none(), "no nftables table created");
        assert_eq!(c.extra_links(), Vec::<String>::new(), "only lo");

        // The gateway plus another address is a conflict too.
        ip(&["addr", "add", "172.18.0.1/16", "dev", &bridge]);
        let before = link_snapshot(&bridge);
        let err = t.nets.ensure_default().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("bridge {bridge} exists with address 10.1.0.1/24, not 172.18.0.1/16{hint}")
        );
        assert_eq!(link_snapshot(&bridge), before);

        // So is an interface of that name that is not a bridge.
        ip(&["link", "delete", &bridge]);
        let peer = support::unique("mdp");
        ip(&["link", "add", &bridge, "type", "veth", "peer", "name", &peer]);
        let before = link_snapshot(&bridge);
        let err = t.nets.ensure_default().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("interface {bridge} exists and is a veth, not a bridge{hint}")
        );
        assert_eq!(link_snapshot(&bridge), before);
        assert!(t.nets.list().unwrap().is_empty());
        assert!(t.nft_table_json().is_none());
    });
}

#[test]
fn two_roots_on_one_default_bridge_never_share_an_address_nor_remove_each_others() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let a = TestNet::new();
        let b = TestNet::sharing(&a);
        let bridge = a.nets.config().default_bridge.clone();
        a.nets.ensure_default().unwrap();
        b.nets.ensure_default().expect("B adopts A's bridge");

        // Interleaved, one at a time: A, B, A, B...
        let containers: Vec<NsHolder> = (0..16).map(|_| NsHolder::new()).collect();
        let root = |i: usize| if i % 2 == 0 { &a } else { &b };
        let mut atts: Vec<network::Attachment> = Vec::new();
        for (i, c) in containers.iter().enumerate().take(10) {
            let att = root(i)
                .nets
                .attach(
                    &c.netns(),
                    &format!("c{i}"),
                    "bridge",
                    &named(&format!("c{i}")),
                )
                .unwrap();
            atts.push(att);
        }
        // Then both roots at once, each attach from its own handle, as separate
        // processes would.
        let configs = [a.nets.config().clone(), b.nets.config().clone()];
        let more: Vec<network::Attachment> = std::thread::scope(|s| {
            let handles: Vec<_> = containers
                .iter()
                .enumerate()
                .skip(10)
                .map(|(i, c)| {
                    let config = configs[i % 2].clone();
                    s.spawn(move || {
                        let nets = network::Networks::new(config).unwrap();
                        nets.attach(&c.netns(), &format!("c{i}"), "bridge", &named("x"))
                            .unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        atts.extend(more);
        let ips: BTreeSet<Ipv4Addr> = atts.iter().map(|at| at.ip).collect();
        assert_eq!(ips.len(), 16, "distinct addresses: {atts:#?}");
        for (c, at) in containers.iter().zip(&atts) {
            assert_eq!(at.bridge, bridge);
            let addr = c.ip_json(&["addr"]);
            assert_eq!(addrs_of(&addr, "eth0"), vec![format!("{}/16", at.ip)]);
        }
        assert!(
            containers[0].ping(&atts[15].ip.to_string()),
            "A's reaches B's"
        );
        assert_eq!(ports_of(&bridge).len(), 16);

        // B's containers leave: A's stay, on the same bridge.
        for i in (1..16).step_by(2) {
            assert!(b.nets.detach(&format!("c{i}"), "bridge").unwrap().detached);
        }
        assert_eq!(ports_of(&bridge).len(), 8);
        // B removes everything it has: the bridge and the table stay for A.
        b.nets.purge().unwrap();
        assert!(host_links().contains(&bridge), "the shared bridge stays");
        assert_eq!(ports_of(&bridge).len(), 8);
        assert_eq!(a.nft_elements("bridges"), vec![serde_json::json!(bridge)]);
        assert!(containers[0].ping("172.18.0.1"));
        assert!(containers[0].ping(&atts[2].ip.to_string()));
        // A, the last user, removes it all.
        a.nets.purge().unwrap();
        assert!(
            !host_links().contains(&bridge),
            "the last root deletes the bridge"
        );
        assert!(a.nft_table_json().is_none(), "and the table");
    });
}

#[test]
fn two_roots_sharing_a_table_never_publish_one_port_twice_nor_remove_each_others() {
    require_root!();
    let sandbox = Sandbox::new();
    sandbox.run(|| {
        let a = TestNet::new();
        let b = TestNet::sharing(&a);
        create(&a, "wa", "10.42.1.0/24");
        create(&b, "wb", "10.42.2.0/24");
        let (ca, cb) = (NsHolder::new(), NsHolder::new());
        let publish = |spec: &str| AttachOptions {
            ports: PortSpec::parse(spec).unwrap(),
            ..AttachOptions::default()
        };
        let p = free_port();
        a.nets
            .attach(
                &ca.netns(),
                "ca",
                "wa",
                &publish(&format!("127.0.0.1:{p}:80")),
            )
            .unwrap();

        // The same port, on the same or every address, is A's: refused up front.
        for spec in [format!("127.0.0.1:{p}:80"), format!("{p}:80")] {
            let err = b
                .nets
                .attach(&cb.netns(), "cb", "wb", &publish(&spec))
                .unwrap_err();
            assert!(
                matches!(err, Error::PortInUse { port, .. } if port == p),
                "{spec}: {err}"
            );
            assert!(
                err.to_string()
                    .contains("at 10.42.1.2:80 of another mydocker root"),
                "{err}"
            );
            assert!(b.nets.attachments("cb").unwrap().is_empty());
            assert_eq!(cb.extra_links(), Vec::<String>::new(), "only lo");
        }
        let att_b = b
            .nets
            .attach(&cb.netns(), "cb", "wb", &publish("127.0.0.1::80"))
            .unwrap();
        let q = att_b.ports[0].host_port;
        assert_ne!(q, p);
        let content = b"b-is-still-published".to_vec();
        let www = support::www(b.dir.path(), &content);
        let _httpd = cb.httpd(&www);
        assert_eq!(
            http_get(Ipv4Addr::LOCALHOST, q, "/file.bin"),
            Some(content.clone())
        );

        // A retried removal (A crashed after removing its element, before saving its
        // record) after B took the port must not remove B's element.
        let ca2 = NsHolder::new();
        let r = free_port();
        a.nets
            .attach(
                &ca2.netns(),
                "ca2",
                "wa",
                &publish(&format!("127.0.0.1:{r}:80")),
            )
            .unwrap();
        let record = std::fs::read_dir(&a.nets.config().state_dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .unwrap();
        let saved = std::fs::read(&record).unwrap();
        assert!(a.nets.detach("ca2", "wa").unwrap().detached);
        let cb2 = NsHolder::new();
        let att_b2 = b
            .nets
            .attach(
                &cb2.netns(),
                "cb2",
                "wb",
                &publish(&format!("127.0.0.1:{r}:80")),
            )
            .expect("the port is free again");
        std::fs::write(&record, saved).unwrap();
        assert!(a.nets.detach("ca2", "wa").unwrap().detached, "A's retry");
        let held: Vec<serde_json::Value> = b.nft_elements("publish_ip");
        // nft names the protocol when /etc/protocols knows it (the host), else gives its
        // number (a VM guest without the file).
        let b2_entry = |proto: serde_json::Value| {
            serde_json::json!([
                {"concat": ["127.0.0.1", proto, r]},
                {"concat": [att_b2.ip.to_string(), 80]}
            ])
        };
        assert!(
            held.contains(&b2_entry(serde_json::json!("tcp")))
                || held.contains(&b2_entry(serde_json::json!(6))),
            "B's element for {r} survives: {held:?}"
        );

        // A leaves and removes everything it has: B's port still answers.
        a.nets.detach("ca", "wa").unwrap();
        a.nets.remove("wa").unwrap();
        a.nets.purge().unwrap();
        assert!(
            a.nft_table_json().is_some(),
            "B's bridge still uses the table"
        );
        assert_eq!(b.nft_elements("publish_ip").len(), 2, "B's two ports");
        assert_eq!(http_get(Ipv4Addr::LOCALHOST, q, "/file.bin"), Some(content));
        b.nets.purge().unwrap();
        assert!(b.nft_table_json().is_none());
    });
}
