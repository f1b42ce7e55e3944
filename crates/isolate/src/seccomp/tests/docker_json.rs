//! Docker-format JSON profiles (`--security-opt seccomp=profile.json`): parsing, resolution
//! against capabilities, architecture and kernel version, and errors.

use super::*;

/// A docker-format profile in the shape of docker's `default.json`, exercising every field.
const SAMPLE: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
        { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": null }
    ],
    "syscalls": [
        { "names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW", "args": null,
          "comment": "", "includes": {}, "excludes": {} },
        { "name": "getpid", "action": "SCMP_ACT_ALLOW" },
        { "names": ["personality"], "action": "SCMP_ACT_ALLOW",
          "args": [ { "index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ" } ] },
        { "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
        { "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
          "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
        { "names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["amd64", "x32"] } },
        { "names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["arm", "arm64"] } },
        { "names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "4.8" } },
        { "names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "99.0" } },
        { "names": ["uname"], "action": "SCMP_ACT_ALLOW", "excludes": { "minKernel": "4.0" } },
        { "names": ["syslog"], "action": "SCMP_ACT_ALLOW",
          "includes": { "caps": ["CAP_SYSLOG", "CAP_SYS_ADMIN"] } }
    ]
}"#;

fn resolved_names(p: &LinuxSeccomp) -> Vec<String> {
    p.syscalls()
        .as_ref()
        .unwrap()
        .iter()
        .flat_map(|s| s.names().iter().cloned())
        .collect()
}

fn default_caps() -> HashSet<Capability> {
    caps::DOCKER_DEFAULT.iter().copied().collect()
}

#[test]
fn docker_json_sample_with_default_caps_on_x86_64() {
    let parsed = docker::parse(SAMPLE.as_bytes()).unwrap();
    let p = docker::resolve(&parsed, Arch::X86_64, &default_caps(), Some((6, 1)))
        .unwrap()
        .unwrap();
    assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(p.default_errno_ret(), Some(1));
    assert_eq!(
        p.architectures().as_deref(),
        Some(
            &[
                OciArch::ScmpArchX86_64,
                OciArch::ScmpArchX86,
                OciArch::ScmpArchX32
            ][..]
        )
    );
    assert_eq!(
        resolved_names(&p),
        [
            "read",
            "write",
            "exit_group",
            "getpid",
            "personality",
            "clone3",
            "arch_prctl",
            "ptrace"
        ]
    );
    let entry = |name: &str| {
        p.syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .find(|s| s.names().iter().any(|n| n == name))
            .unwrap()
            .clone()
    };
    let personality = entry("personality");
    let args = personality.args().as_ref().unwrap();
    assert_eq!(
        (args[0].index(), args[0].value(), args[0].op()),
        (0, 8, LinuxSeccompOperator::ScmpCmpEq)
    );
    assert_eq!(entry("clone3").errno_ret(), Some(38));
}

#[test]
fn docker_json_sample_with_more_caps_on_arm64_and_an_old_kernel() {
    let parsed = docker::parse(SAMPLE.as_bytes()).unwrap();
    let mut more = default_caps();
    more.extend([Capability::SysAdmin, Capability::Syslog]);
    let p = docker::resolve(&parsed, Arch::Aarch64, &more, Some((3, 10)))
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved_names(&p),
        [
            "read",
            "write",
            "exit_group",
            "getpid",
            "personality",
            "mount",
            "set_tls",
            "uname",
            "syslog"
        ]
    );
    assert_eq!(
        p.architectures().as_deref(),
        Some(&[OciArch::ScmpArchAarch64][..])
    );
}

#[test]
fn docker_json_sample_compiles_and_behaves() {
    let parsed = docker::parse(SAMPLE.as_bytes()).unwrap();
    let p = docker::resolve(&parsed, Arch::X86_64, &default_caps(), Some((6, 1)))
        .unwrap()
        .unwrap();
    let program = compile(&p, Arch::X86_64).unwrap();
    assert_eq!(x86_64(&program, "getpid", no_args()), ALLOW);
    assert_eq!(x86_64(&program, "personality", arg0(8)), ALLOW);
    assert_eq!(x86_64(&program, "personality", arg0(0)), EPERM);
    assert_eq!(x86_64(&program, "clone3", no_args()), ENOSYS);
    assert_eq!(x86_64(&program, "mount", no_args()), EPERM);
}

#[test]
fn docker_json_public_entry_point() {
    let p = from_docker_json(SAMPLE.as_bytes(), Arch::X86_64, &caps::docker_default())
        .unwrap()
        .unwrap();
    assert!(resolved_names(&p).contains(&"getpid".to_owned()));
    // `{}` is docker's "no filter".
    assert!(
        from_docker_json(b"{}", Arch::X86_64, &caps::docker_default())
            .unwrap()
            .is_none()
    );
}

#[test]
fn docker_json_errors() {
    let caps = caps::docker_default();
    let check = |json: &str| from_docker_json(json.as_bytes(), Arch::X86_64, &caps).unwrap_err();
    assert!(matches!(check("{"), Error::Json(_)));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_NOPE"}"#),
        Error::UnknownAction(_)
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#
        ),
        Error::NameAndNames { .. }
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#
        ),
        Error::ArchitecturesAndArchMap
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}"#
        ),
        Error::UnknownOperator(_)
    ));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#),
        Error::UnknownArch(_)
    ));
    assert!(matches!(
        check(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5"}}]}"#
        ),
        Error::InvalidKernelVersion(_)
    ));
    assert!(matches!(
        check(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_X"]}"#),
        Error::UnknownFlag(_)
    ));
}

#[test]
fn builtin_default_round_trips_through_docker_json() {
    // The built-in table, written out as docker JSON and read back, resolves to the same profile:
    // the JSON reader handles everything docker's default.json uses.
    let json = serde_json::to_vec(&default_profile::profile()).unwrap();
    for arch in [Arch::X86_64, Arch::Aarch64] {
        for caps in [
            caps::docker_default(),
            with_caps(&[Capability::SysAdmin, Capability::SysPtrace]),
        ] {
            let from_json = from_docker_json(&json, arch, &caps).unwrap().unwrap();
            assert_eq!(from_json, docker_default(arch, &caps));
        }
    }
}

#[test]
fn kernel_versions() {
    assert_eq!(docker::parse_kernel_version("6.1.0-18-amd64"), Some((6, 1)));
    assert_eq!(
        docker::parse_kernel_version("6.18.44-fc-v782"),
        Some((6, 18))
    );
    assert_eq!(docker::parse_kernel_version("5"), Some((5, 0)));
    assert_eq!(docker::parse_kernel_version("x"), None);
    assert!(docker::running_kernel().is_some());
}
