//! Flags shared by the commands that read images (`inspect`, `scan`): how to reach and
//! choose the image, how many layers to walk at once, and every bound of
//! [`crate::limits::Limits`]. Commands embed [`ImageArgs`] with `#[command(flatten)]`.

use crate::image::Platform;
use crate::limits::Limits;
use crate::source::SourceOptions;
use std::time::Duration;

/// Parse a byte size: a number with an optional binary suffix (`K`, `M`, `G`, `T`, with
/// or without `iB`/`B`), e.g. `512M`, `8GiB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, mult) = match stripped.chars().last() {
        Some('k') => (&stripped[..stripped.len() - 1], 1u64 << 10),
        Some('m') => (&stripped[..stripped.len() - 1], 1 << 20),
        Some('g') => (&stripped[..stripped.len() - 1], 1 << 30),
        Some('t') => (&stripped[..stripped.len() - 1], 1 << 40),
        _ => (stripped, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 1048576, 512M, 8G)"))
}

fn default_parallel() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(1, 8)
}

/// Flags for commands that read images.
#[derive(clap::Args, Debug, Clone)]
pub struct ImageArgs {
    /// Platform to pick from a multi-arch index.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    pub platform: String,
    /// Read every platform of a multi-arch index.
    #[arg(long)]
    pub all_platforms: bool,
    /// Allow plain HTTP and unverified TLS certificates for registries.
    #[arg(long)]
    pub insecure: bool,
    /// Extra CA certificate (PEM) to trust for registry TLS; repeatable.
    #[arg(long, value_name = "PEM")]
    pub ca_cert: Vec<std::path::PathBuf>,
    /// Docker config file to read credentials from (default: $DOCKER_CONFIG/config.json
    /// or ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<std::path::PathBuf>,
    /// Registry user name (use with --password-stdin).
    #[arg(long, requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the registry password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Layers fetched and walked at once.
    #[arg(long, value_name = "N", default_value_t = default_parallel())]
    pub parallel: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,

    /// Uncompressed bytes read per layer (e.g. 8G).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_layer_bytes: Option<u64>,
    /// Uncompressed bytes read per image.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_image_bytes: Option<u64>,
    /// Compressed bytes of one blob.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_blob_bytes: Option<u64>,
    /// Tar entries per layer.
    #[arg(long, value_name = "N")]
    pub max_entries: Option<u64>,
    /// Bytes of one file's content examined.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_file_bytes: Option<u64>,
    /// Length of an entry path in bytes.
    #[arg(long, value_name = "N")]
    pub max_path_len: Option<usize>,
    /// Nesting depth of archives inside the image.
    #[arg(long, value_name = "N")]
    pub max_nesting: Option<u32>,
    /// Bytes of a manifest, index or config document.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_json_bytes: Option<u64>,
    /// Overall time limit in seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Estimated bytes of entry metadata (paths, link targets) kept per image; entries
    /// past it are still examined but missing from the filesystem view (reported).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_meta_bytes: Option<u64>,

    /// Where to look for an unprefixed image name, in order; the first that has it wins
    /// (`registry:NAME` always means the registry, `docker:NAME` / `containerd:NAME` /
    /// `podman:NAME` one daemon).
    #[arg(long, value_name = "SRC,...", value_enum, value_delimiter = ',',
          default_values_t = crate::source::daemon::DEFAULT_IMAGE_SRC)]
    pub image_src: Vec<crate::source::daemon::ImageSrc>,
    /// Docker daemon address (unix:///PATH or tcp://HOST:PORT; default DOCKER_HOST, else
    /// unix:///var/run/docker.sock).
    #[arg(long, value_name = "ADDR")]
    pub docker_host: Option<String>,
    /// Podman API address (default CONTAINER_HOST, else $XDG_RUNTIME_DIR/podman/podman.sock,
    /// else /run/podman/podman.sock; start it with `podman system service`).
    #[arg(long, value_name = "ADDR")]
    pub podman_host: Option<String>,
    /// containerd socket (default CONTAINERD_ADDRESS, else /run/containerd/containerd.sock).
    #[arg(long, value_name = "PATH")]
    pub containerd_address: Option<String>,
    /// containerd namespace to read images from (default CONTAINERD_NAMESPACE, else
    /// `default`; Kubernetes keeps its images in `k8s.io`).
    #[arg(long, value_name = "NAME")]
    pub containerd_namespace: Option<String>,
}

/// `--yara` and its bounds (`scan`, `manifests`, `serve`, `admission-review`; see
/// docs/yara.md). Commands embed it with `#[command(flatten)]`.
#[derive(clap::Args, Debug, Clone)]
pub struct YaraArgs {
    /// YARA rules to run on every file: .yar/.yara files, directories of them, or rules
    /// compiled by YARA-X (repeatable).
    #[arg(long, value_name = "PATH")]
    pub yara: Vec<std::path::PathBuf>,
    /// Bytes of one file the YARA rules see (a longer file: its first BYTES, reported).
    #[arg(long, value_name = "BYTES", value_parser = parse_size, default_value = "64M")]
    pub yara_max_file_bytes: u64,
    /// Seconds one file's YARA scan may take (longer: stopped, reported).
    #[arg(long, value_name = "SECONDS", default_value_t = crate::yara::DEFAULT_TIMEOUT_SECS)]
    pub yara_timeout: u64,
}

impl YaraArgs {
    /// `sigs` with the `--yara` rules compiled into it (unchanged without `--yara`).
    pub fn attach(
        &self,
        sigs: crate::signatures::Signatures,
    ) -> Result<crate::signatures::Signatures, crate::yara::LoadError> {
        crate::yara::attach(sigs, &self.yara, self.options())
    }

    /// The per-file bounds of the `--yara` scan.
    pub fn options(&self) -> crate::yara::YaraOptions {
        crate::yara::YaraOptions {
            max_file_bytes: self.yara_max_file_bytes.max(1),
            timeout: Duration::from_secs(self.yara_timeout.max(1)),
        }
    }
}

impl ImageArgs {
    /// The bounds: defaults overridden by the flags given.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        Limits {
            layer_bytes: self.max_layer_bytes.unwrap_or(d.layer_bytes),
            image_bytes: self.max_image_bytes.unwrap_or(d.image_bytes),
            blob_bytes: self.max_blob_bytes.unwrap_or(d.blob_bytes),
            entries_per_layer: self.max_entries.unwrap_or(d.entries_per_layer),
            file_bytes: self.max_file_bytes.unwrap_or(d.file_bytes),
            path_len: self.max_path_len.unwrap_or(d.path_len),
            nesting: self.max_nesting.unwrap_or(d.nesting),
            json_bytes: self.max_json_bytes.unwrap_or(d.json_bytes),
            timeout_secs: self.timeout.unwrap_or(d.timeout_secs),
            meta_bytes: self.max_meta_bytes.unwrap_or(d.meta_bytes),
        }
    }

    /// Source options from the flags; reads the password from stdin with
    /// `--password-stdin`.
    pub fn source_options(&self) -> Result<SourceOptions, String> {
        let platform: Platform = self.platform.parse()?;
        let password = if self.password_stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_line(&mut s)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            let p = s.trim_end_matches(['\r', '\n']).to_string();
            if p.is_empty() {
                return Err("--password-stdin: standard input was empty".into());
            }
            Some(p)
        } else {
            None
        };
        let limits = self.limits();
        Ok(SourceOptions {
            platform,
            all_platforms: self.all_platforms,
            insecure: self.insecure,
            username: self.username.clone(),
            password,
            ca_certs: self.ca_cert.clone(),
            docker_config: self.docker_config.clone(),
            timeout: Duration::from_secs(limits.timeout_secs),
            limits,
            image_src: self.image_src.clone(),
            docker_host: self.docker_host.clone(),
            podman_host: self.podman_host.clone(),
            containerd_address: self.containerd_address.clone(),
            containerd_namespace: self.containerd_namespace.clone(),
            ..SourceOptions::default()
        })
    }

    /// Layers walked at once (at least 1).
    pub fn parallel(&self) -> usize {
        self.parallel.max(1)
    }

    /// Whether to draw progress bars: on a terminal and not `--quiet`.
    pub fn progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.quiet && std::io::stderr().is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("2kb").unwrap(), 2048);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
