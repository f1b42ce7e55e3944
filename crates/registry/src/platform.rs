//! Platforms (`os/arch[/variant]`) with docker's (containerd's) normalisation and matching.

use std::fmt;
use std::str::FromStr;

use crate::reference::ParseError;

/// An image platform such as `linux/amd64` or `linux/arm/v7`, normalised the way docker
/// normalises `--platform` values and index entries (`x86_64` is `amd64`, `aarch64` is
/// `arm64` with variant `v8`, `armhf` is `arm/v7`, ...).
///
/// ```
/// use registry::Platform;
///
/// let p: Platform = "linux/aarch64".parse()?;
/// assert_eq!(p.to_string(), "linux/arm64/v8");
/// assert!(p.matches(&"linux/arm64".parse()?));
/// # Ok::<(), registry::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

const KNOWN_OSES: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];

impl Platform {
    /// A platform from its parts, normalised.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = match os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_owned(),
            other => other.to_owned(),
        };
        let (architecture, variant) = normalize_arch(
            &architecture.to_ascii_lowercase(),
            variant
                .filter(|v| !v.is_empty())
                .map(str::to_ascii_lowercase),
        );
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// The platform this program runs on, as docker would pick it by default.
    pub fn host() -> Self {
        let os = std::env::consts::OS;
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            "mips" if cfg!(target_endian = "little") => ("mipsle", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Self::new(os, arch, variant)
    }

    /// The operating system, e.g. `linux`.
    pub fn os(&self) -> &str {
        &self.os
    }

    /// The architecture in Go's spelling, e.g. `amd64`, `arm64`.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    /// The CPU variant, e.g. `v7` for `arm`, `v8` for `arm64`.
    pub fn variant(&self) -> Option<&str> {
        self.variant.as_deref()
    }

    /// Converts an index entry's platform.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Self::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        )
    }

    /// Whether an image built for `candidate` runs on (and so may be picked for) `self`.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.rank(candidate).is_some()
    }

    /// How well `candidate` fits `self` (higher is better), or `None` when it does not.
    ///
    /// The same architecture with the same variant ranks highest; for `arm` an older variant
    /// still runs (a v7 host runs v6 and v5 images, preferring the newest), and for `amd64`
    /// microarchitecture levels up to the wanted one run.
    pub(crate) fn rank(&self, candidate: &Platform) -> Option<u32> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        let wanted = self.variant.as_deref();
        let got = candidate.variant.as_deref();
        if wanted == got {
            return Some(100);
        }
        match self.architecture.as_str() {
            "arm" | "amd64" => {
                let level = |v: Option<&str>| -> Option<u32> {
                    match v {
                        None => Some(1),
                        Some(v) => v.strip_prefix('v')?.parse().ok(),
                    }
                };
                let (w, g) = (level(wanted)?, level(got)?);
                // An image without a variant is taken to be the baseline.
                (g <= w).then_some(g)
            }
            // Without a wanted variant, any variant of the architecture will do.
            _ if wanted.is_none() => Some(1),
            _ => None,
        }
    }
}

/// containerd's `normalizeArch`, except that `arm64` keeps `v8` as its explicit default.
fn normalize_arch(arch: &str, variant: Option<String>) -> (String, Option<String>) {
    let v = variant.as_deref();
    let (arch, variant) = match arch {
        "i386" => ("386", variant),
        "x86_64" | "x86-64" | "amd64" => match v {
            Some("v1") => ("amd64", None),
            _ => ("amd64", variant),
        },
        "aarch64" | "arm64" => match v {
            None | Some("8" | "v8" | "v8.0") => ("arm64", Some("v8".to_owned())),
            Some("9" | "9.0" | "v9.0") => ("arm64", Some("v9".to_owned())),
            Some("8.1") => ("arm64", Some("v8.1".to_owned())),
            _ => ("arm64", variant),
        },
        "armhf" => ("arm", Some("v7".to_owned())),
        "armel" => ("arm", Some("v6".to_owned())),
        "arm" => match v {
            None | Some("7") => ("arm", Some("v7".to_owned())),
            Some(n @ ("5" | "6" | "8")) => ("arm", Some(format!("v{n}"))),
            _ => ("arm", variant),
        },
        other => (other, variant),
    };
    (arch.to_owned(), variant)
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ParseError;

    /// Parses `os/arch[/variant]`; like docker, a single component is an OS (on the host's
    /// architecture) when it names one, else an architecture (on the host's OS).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &'static str| ParseError::InvalidPlatform {
            input: s.to_owned(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !parts.iter().all(|p| valid_part(p)) {
            return Err(invalid(
                "expected os/arch[/variant] made of letters, digits, '_', '-' and '.'",
            ));
        }
        match parts.as_slice() {
            [one] => {
                let lower = one.to_ascii_lowercase();
                if KNOWN_OSES.contains(&lower.as_str()) || lower == "macos" {
                    let host = Self::host();
                    Ok(Self::new(&lower, &host.architecture, host.variant()))
                } else {
                    Ok(Self::new(std::env::consts::OS, one, None))
                }
            }
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(invalid("too many components, expected os/arch[/variant]")),
        }
    }
}

impl serde::Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Platform {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn normalisation() {
        let cases = [
            ("linux/amd64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("Linux/X86-64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64/v8"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm64/8", "linux/arm64/v8"),
            ("linux/arm64/v8.0", "linux/arm64/v8"),
            ("linux/arm64/9", "linux/arm64/v9"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/7", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/armel", "linux/arm/v6"),
            ("linux/i386", "linux/386"),
            ("macos/arm64", "darwin/arm64/v8"),
            ("windows/amd64", "windows/amd64"),
            ("linux/s390x", "linux/s390x"),
        ];
        for (input, want) in cases {
            assert_eq!(p(input).to_string(), want, "{input}");
        }
    }

    #[test]
    fn single_component_forms() {
        let host = Platform::host();
        let linux = p("linux");
        assert_eq!(linux.os(), "linux");
        assert_eq!(linux.architecture(), host.architecture());
        let arm64 = p("aarch64");
        assert_eq!(arm64.os(), std::env::consts::OS);
        assert_eq!(arm64.architecture(), "arm64");
    }

    #[test]
    fn invalid_platforms() {
        for bad in [
            "",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
            "a//b",
        ] {
            let err = bad.parse::<Platform>().unwrap_err();
            assert!(
                err.to_string().contains("invalid platform"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn host_is_normalised() {
        let h = Platform::host();
        assert_eq!(Platform::new(h.os(), h.architecture(), h.variant()), h);
        if cfg!(target_arch = "x86_64") {
            assert_eq!(h.to_string(), "linux/amd64");
        }
    }

    #[test]
    fn matching_rules() {
        assert!(p("linux/amd64").matches(&p("linux/amd64")));
        assert!(!p("linux/amd64").matches(&p("linux/arm64")));
        assert!(!p("linux/amd64").matches(&p("windows/amd64")));
        // arm64 entries without a variant are v8.
        assert!(p("linux/arm64/v8").matches(&p("linux/arm64")));
        // Older arm variants run on newer hosts, not the other way round.
        assert!(p("linux/arm/v7").matches(&p("linux/arm/v6")));
        assert!(!p("linux/arm/v6").matches(&p("linux/arm/v7")));
        let v7 = p("linux/arm/v7");
        assert!(v7.rank(&p("linux/arm/v7")) > v7.rank(&p("linux/arm/v6")));
        assert!(v7.rank(&p("linux/arm/v6")) > v7.rank(&p("linux/arm/v5")));
        // amd64 levels.
        assert!(p("linux/amd64/v3").matches(&p("linux/amd64")));
        assert!(!p("linux/amd64").matches(&p("linux/amd64/v3")));
        // Other architectures: no wanted variant means any.
        assert!(p("linux/riscv64").matches(&Platform::new("linux", "riscv64", Some("rva22"))));
        assert!(
            !Platform::new("linux", "riscv64", Some("a")).matches(&Platform::new(
                "linux",
                "riscv64",
                Some("b")
            ))
        );
    }

    #[test]
    fn from_oci_platform() {
        let oci: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#)
                .unwrap();
        assert_eq!(Platform::from_oci(&oci).to_string(), "linux/arm64/v8");
        let oci: oci_spec::image::Platform =
            serde_json::from_str(r#"{"architecture":"arm","os":"linux"}"#).unwrap();
        assert_eq!(Platform::from_oci(&oci).to_string(), "linux/arm/v7");
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(
            os in "[a-z][a-z0-9]{0,7}",
            arch in "[a-z][a-z0-9_]{0,7}",
            variant in prop::option::of("v[0-9]{1,2}"),
        ) {
            let platform = Platform::new(&os, &arch, variant.as_deref());
            let again: Platform = platform.to_string().parse().unwrap();
            prop_assert_eq!(again, platform);
        }
    }
}
