//! `--yara PATH`: YARA rules written here (strings, hex with jumps, regexes, `filesize`
//! conditions, the `elf` module) run through the CLI on images built by code: a file in a
//! plain layer, a file a later layer deletes, a member of a `.tar.gz` in the image, a file
//! over `--yara-max-file-bytes`; a rule that does not compile; the layer cache keyed by
//! the rule set; ignore files and `--fail-on`; and on the Debian minbase rootfs, a test
//! rule set that stays below MEDIUM and a rule that matches only a file hidden by a
//! whiteout.
#![cfg(feature = "yara")]

mod common;

use common::{imgscan, outs};
use imgscan_testkit::{layer_tar, single_image_layout, Comp, Ent, ImageSpec, Layer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A rule file `name` with `text` in `dir`.
fn rule_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An OCI layout of `layers` (gzip) under `dir`; returns the scan target.
fn layout(dir: &Path, layers: &[Vec<Ent>]) -> String {
    let spec = ImageSpec::new(
        layers
            .iter()
            .map(|l| Layer::from_tar(&layer_tar(l), Comp::Gzip))
            .collect(),
    );
    let p = dir.join("img");
    single_image_layout(&p, &spec, "latest");
    format!("oci-dir:{}", p.display())
}

/// `imgscan scan TARGET --format json -q` plus `args`: (report, stderr, exit code).
fn scan(target: &str, args: &[&str]) -> (Value, String, i32) {
    let mut a = vec!["scan", target, "--format", "json", "-q"];
    a.extend_from_slice(args);
    let (out, err, code) = outs(&imgscan(&a));
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (v["reports"][0].clone(), err, code)
}

fn findings(report: &Value) -> Vec<Value> {
    report["findings"].as_array().cloned().unwrap_or_default()
}

/// The findings whose id starts with `YARA-`, by id.
fn yara_findings(report: &Value) -> Vec<Value> {
    findings(report)
        .into_iter()
        .filter(|f| f["id"].as_str().unwrap_or("").starts_with("YARA-"))
        .collect()
}

fn find<'a>(fs: &'a [Value], id: &str) -> &'a Value {
    fs.iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {}", serde_json::to_string_pretty(fs).unwrap()))
}

/// The smallest ELF header YARA-X's `elf` module parses: 64-bit, little-endian,
/// `e_type` as given, no program or section headers.
fn elf_header(e_type: u16) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&e_type.to_le_bytes());
    h[18..20].copy_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h
}

const STRINGS_RULE: &str = r#"
rule marker {
    meta:
        description = "the test marker"
        reference = "https://example.org/marker"
        severity = "high"
    strings:
        $a = "IMGSCAN-YARA-MARKER"
    condition:
        $a
}
"#;

#[test]
fn rules_of_every_kind_match_files_in_a_plain_layer() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("sub")).unwrap();
    rule_file(&rules, "strings.yar", STRINGS_RULE);
    rule_file(
        &rules.join("sub"),
        "hex.yara",
        "rule jump { meta: score = 75 strings: $h = { 4D 5A [2-4] 50 45 00 00 } condition: $h }",
    );
    rule_file(
        &rules,
        "regex.yar",
        r#"rule token { meta: risk = 1 strings: $r = /token=[a-f0-9]{16}\b/ condition: $r }"#,
    );
    rule_file(
        &rules,
        "size.yar",
        "rule tiny_hell { condition: filesize < 64 and uint32(0) == 0x4c4c4548 }",
    );
    rule_file(
        &rules,
        "elf.yar",
        "import \"elf\"\nrule exec_elf : notable { condition: elf.type == elf.ET_EXEC and elf.machine == elf.EM_X86_64 }",
    );
    // Not a rule file: ignored in a directory.
    rule_file(&rules, "README.md", "rule broken {");
    let mut elf = elf_header(2);
    elf.resize(4096, 0);
    let mut pe = b"padding MZ\x90\x00\x03PE\x00\x00 rest".to_vec();
    pe.resize(300, b' ');
    let target = layout(
        dir.path(),
        &[vec![
            Ent::file("srv/notes.txt", b"hello\nIMGSCAN-YARA-MARKER here\n"),
            Ent::file("srv/win.bin", &pe),
            Ent::file("srv/app.env", b"user=x token=0123456789abcdef\n"),
            Ent::file("srv/hell", b"HELLO"),
            Ent::file("srv/hell-big", [b"HELL".as_slice(), &[b'o'; 100]].concat()),
            Ent::exe("usr/local/bin/tool", &elf),
            Ent::exe("usr/local/bin/lib", elf_header(3)),
        ]],
    );
    let (report, err, code) = scan(
        &target,
        &["--yara", rules.to_str().unwrap(), "--fail-on", "none"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(report.get("incomplete").is_none(), "{report}");
    let fs = yara_findings(&report);
    let mut got: Vec<(String, String, String)> = fs
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["evidence"][0]["location"]["path"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    got.sort();
    let want = [
        ("YARA-elf-exec_elf", "MEDIUM", "usr/local/bin/tool"),
        ("YARA-regex-token", "LOW", "srv/app.env"),
        ("YARA-size-tiny_hell", "MEDIUM", "srv/hell"),
        ("YARA-strings-marker", "HIGH", "srv/notes.txt"),
        ("YARA-sub.hex-jump", "HIGH", "srv/win.bin"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    // Evidence: the match (description, reference), then each string with its offset.
    let m = find(&fs, "YARA-strings-marker");
    let ev = m["evidence"].as_array().unwrap();
    assert_eq!(ev[0]["signature"], "yara:strings:marker");
    let what = ev[0]["excerpt"].as_str().unwrap();
    assert!(what.contains("the test marker"), "{what}");
    assert!(what.contains("https://example.org/marker"), "{what}");
    assert_eq!(ev[1]["signature"], "yara:strings:marker:$a");
    assert_eq!(ev[1]["offset"], 6);
    assert_eq!(ev[1]["excerpt"], "IMGSCAN-YARA-MARKER");
    assert!(m["description"]
        .as_str()
        .unwrap()
        .contains("the test marker"));
    assert_eq!(
        m["title"],
        "YARA rule strings:marker: srv/notes.txt (layer 0)"
    );
    // Non-printable matched bytes are escaped.
    let hex = find(&fs, "YARA-sub.hex-jump");
    assert_eq!(hex["evidence"][1]["offset"], 8);
    assert_eq!(
        hex["evidence"][1]["excerpt"],
        "MZ\\x90\\x00\\x03PE\\x00\\x00"
    );
}

#[test]
fn a_deleted_file_and_a_nested_archive_member_are_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(dir.path(), "t.yar", STRINGS_RULE);
    let inner = imgscan_testkit::compress(
        &layer_tar(&[
            Ent::dir("pkg"),
            Ent::file("pkg/payload.txt", b"...IMGSCAN-YARA-MARKER..."),
        ]),
        Comp::Gzip,
    );
    let target = layout(
        dir.path(),
        &[
            vec![
                Ent::file("opt/cache/blob.dat", b"IMGSCAN-YARA-MARKER"),
                Ent::file("opt/bundle.tar.gz", &inner),
            ],
            vec![Ent::Whiteout("opt/cache/blob.dat".into())],
        ],
    );
    let (report, err, code) = scan(&target, &["--yara", rules.to_str().unwrap()]);
    // HIGH rule, default --fail-on high.
    assert_eq!(code, 1, "{err}");
    let fs = yara_findings(&report);
    assert_eq!(fs.len(), 2, "{fs:?}");
    let hidden = fs
        .iter()
        .find(|f| f["evidence"][0]["location"]["path"] == "opt/cache/blob.dat")
        .expect("the deleted file");
    assert_eq!(hidden["evidence"][0]["location"]["hidden_by"], 1);
    assert!(hidden["title"]
        .as_str()
        .unwrap()
        .contains("deleted by layer 1"));
    let nested = fs
        .iter()
        .find(|f| f["evidence"][0]["location"]["path"] == "pkg/payload.txt")
        .expect("the archive member");
    assert_eq!(
        nested["evidence"][0]["location"]["inside"],
        serde_json::json!(["opt/bundle.tar.gz"])
    );
    assert_eq!(nested["evidence"][1]["offset"], 3);
}

#[test]
fn a_rule_that_does_not_compile_is_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = rule_file(dir.path(), "good.yar", STRINGS_RULE);
    let bad = rule_file(
        dir.path(),
        "bad.yar",
        "rule ok { condition: true }\n\nrule broken {\n  strings: $a = \"x\"\n  condition: $b\n}\n",
    );
    let target = layout(dir.path(), &[vec![Ent::file("a", b"x")]]);
    let o = imgscan(&[
        "scan",
        &target,
        "-q",
        "--yara",
        good.to_str().unwrap(),
        "--yara",
        bad.to_str().unwrap(),
    ]);
    let (out, err, code) = outs(&o);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.is_empty(), "nothing is scanned: {out}");
    assert!(err.contains("bad.yar:5:"), "{err}");
    assert!(err.contains("$b"), "{err}");
    // A path that is not there is an error too, not an empty rule set.
    let o = imgscan(&["scan", &target, "-q", "--yara", "/nonexistent/rules"]);
    assert_eq!(outs(&o).2, 2);
}

#[test]
fn a_file_over_the_bound_is_scanned_on_its_head_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(
        dir.path(),
        "t.yar",
        &format!(
            "{STRINGS_RULE}\nrule tail {{ strings: $t = \"TAIL-MARKER\" condition: $t }}\n\
             rule size {{ condition: filesize > 5000 }}\n"
        ),
    );
    let mut big = vec![b'.'; 10_000];
    big[100..119].copy_from_slice(b"IMGSCAN-YARA-MARKER");
    big[8000..8011].copy_from_slice(b"TAIL-MARKER");
    let target = layout(dir.path(), &[vec![Ent::file("data/big.log", &big)]]);
    let (report, err, code) = scan(
        &target,
        &[
            "--yara",
            rules.to_str().unwrap(),
            "--yara-max-file-bytes",
            "4096",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 2, "a bound was hit: {err}");
    let fs = yara_findings(&report);
    assert_eq!(fs.len(), 1, "{fs:?}");
    let f = &fs[0];
    assert_eq!(f["id"], "YARA-t-marker");
    let sigs: Vec<&str> = f["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["signature"].as_str().unwrap())
        .collect();
    assert_eq!(
        sigs,
        ["yara:t:marker", "yara:t:marker:$a"],
        "neither the tail nor filesize > 4096"
    );
    assert!(f["evidence"][0]["excerpt"]
        .as_str()
        .unwrap()
        .contains("only the first 4096 of 10000 bytes"));
    let why = report["incomplete"].to_string();
    assert!(
        why.contains("data/big.log") && why.contains("--yara-max-file-bytes"),
        "{why}"
    );
    // Raised past the file, it is all seen and the scan is complete.
    let (report, err, code) = scan(
        &target,
        &[
            "--yara",
            rules.to_str().unwrap(),
            "--yara-max-file-bytes",
            "1M",
            "--fail-on",
            "none",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let f = &yara_findings(&report)[0];
    let n = f["evidence"].as_array().unwrap().len();
    assert_eq!(n, 5, "marker, size, tail, and the strings $a and $t: {f}");
}

#[test]
fn a_yara_hit_and_miner_strings_on_one_file_are_one_finding() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(
        dir.path(),
        "m.yar",
        r#"rule pool { meta: severity = "medium" strings: $p = "stratum+tcp://" condition: $p }
           rule loud_low { meta: severity = "low" strings: $p = "pool" condition: $p }"#,
    );
    let target = layout(
        dir.path(),
        &[vec![Ent::file(
            "etc/miner.conf",
            b"url = stratum+tcp://pool.minexmr.com:4444\n",
        )]],
    );
    let (report, _, _) = scan(
        &target,
        &["--yara", rules.to_str().unwrap(), "--fail-on", "none"],
    );
    let here: Vec<Value> = findings(&report)
        .into_iter()
        .filter(|f| f["evidence"][0]["location"]["path"] == "etc/miner.conf")
        // The seed YARA-L rule judges the image's events, a finding of its own.
        .filter(|f| !f["id"].as_str().unwrap().starts_with("YARAL-"))
        .collect();
    assert_eq!(here.len(), 1, "{here:?}");
    let f = &here[0];
    // The built-in pool finding (HIGH) with the YARA hit as a second threat: raised.
    assert_eq!(f["id"], "IMG-POOL-ENDPOINT");
    assert_eq!(f["severity"], "CRITICAL");
    let ev = f["evidence"].to_string();
    assert!(
        ev.contains("yara:m:pool:$p") && ev.contains("yara:m:loud_low"),
        "{ev}"
    );
    assert!(f["description"]
        .as_str()
        .unwrap()
        .contains("YARA rule m:pool"));
}

#[test]
fn ignore_files_severity_and_fail_on_apply_to_yara_findings() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(dir.path(), "t.yar", STRINGS_RULE);
    let target = layout(
        dir.path(),
        &[vec![
            Ent::file("a/one.txt", b"IMGSCAN-YARA-MARKER"),
            Ent::file("b/two.txt", b"IMGSCAN-YARA-MARKER"),
        ]],
    );
    let r = rules.to_str().unwrap();
    let (report, _, code) = scan(&target, &["--yara", r]);
    assert_eq!((code, yara_findings(&report).len()), (1, 2));
    let (_, _, code) = scan(&target, &["--yara", r, "--fail-on", "critical"]);
    assert_eq!(code, 0);
    let (report, _, _) = scan(&target, &["--yara", r, "--severity", "low"]);
    assert!(yara_findings(&report).is_empty());
    let ignore = dir.path().join("ignore.yaml");
    std::fs::write(
        &ignore,
        "- id: YARA-t-marker\n  path: \"a/*\"\n  reason: test data that carries the marker\n",
    )
    .unwrap();
    let (report, _, code) = scan(
        &target,
        &["--yara", r, "--ignorefile", ignore.to_str().unwrap()],
    );
    let left = yara_findings(&report);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["evidence"][0]["location"]["path"], "b/two.txt");
    assert_eq!(code, 1);
}

#[test]
fn the_layer_cache_is_keyed_by_the_rule_set() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let c = cache.to_str().unwrap();
    let rules = rule_file(dir.path(), "t.yar", STRINGS_RULE);
    let other = rule_file(
        dir.path(),
        "u.yar",
        "rule other { strings: $a = \"second-marker\" condition: $a }",
    );
    let target = layout(
        dir.path(),
        &[vec![Ent::file(
            "srv/x.txt",
            b"IMGSCAN-YARA-MARKER second-marker",
        )]],
    );
    let ids = |args: &[&str]| {
        let mut a = vec!["--cache-dir", c, "--fail-on", "none"];
        a.extend_from_slice(args);
        let (report, err, code) = scan(&target, &a);
        assert_eq!(code, 0, "{err}");
        let mut v: Vec<String> = findings(&report)
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    // Cached without rules first: the rules must still run on the next scan.
    assert!(ids(&[]).is_empty());
    assert_eq!(ids(&["--yara", rules.to_str().unwrap()]), ["YARA-t-marker"]);
    // Served from the cache (same rules): the YARA signals round-trip.
    assert_eq!(ids(&["--yara", rules.to_str().unwrap()]), ["YARA-t-marker"]);
    assert_eq!(ids(&["--yara", other.to_str().unwrap()]), ["YARA-u-other"]);
    // A changed rule file is a new key too.
    std::fs::write(
        &other,
        "rule renamed { strings: $a = \"second-marker\" condition: $a }",
    )
    .unwrap();
    assert_eq!(
        ids(&["--yara", other.to_str().unwrap()]),
        ["YARA-u-renamed"]
    );
    let entries = std::fs::read_dir(&cache).unwrap().count();
    assert!(entries >= 4, "one entry per key: {entries}");
}

/// The cached Debian bookworm minbase rootfs tar (scripts/debian-rootfs.sh).
fn minbase_tar() -> Vec<u8> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/debian-rootfs.sh");
    let o = std::process::Command::new("bash")
        .arg(script)
        .arg("minbase")
        .output()
        .expect("running scripts/debian-rootfs.sh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = String::from_utf8(o.stdout).unwrap().trim().to_string();
    std::fs::read(p).unwrap()
}

/// Rules as a security team would write them for images (miners, reverse shells, packed
/// ELF, cloud credential theft), plus one LOW rule that fires on every ELF: none of them
/// may raise anything at MEDIUM or above on Debian.
const TEST_SET: &str = r#"
import "elf"
rule xmrig_strings { meta: severity = "high" description = "XMRig"
  strings: $a = "XMRig" ascii wide $b = "--donate-level" $c = "randomx" nocase
  condition: 2 of them }
rule stratum { meta: score = 80 strings: $ = /stratum\+(tcp|ssl):\/\/[a-z0-9.-]+:[0-9]{2,5}/ condition: any of them }
rule upx_elf { meta: severity = "medium" strings: $u = "UPX!" condition: uint32(0) == 0x464c457f and $u in (0..1024) }
rule revshell { meta: severity = "high"
  strings: $a = /bash -i >& ?\/dev\/tcp\/[0-9.]+\/[0-9]+/ $b = "socket.socket(socket.AF_INET" $c = "pty.spawn(\"/bin/sh\")"
  condition: $a or ($b and $c) }
rule imds_creds { meta: severity = "high" strings: $m = "169.254.169.254/latest/meta-data/iam/security-credentials" condition: $m }
rule kinsing_hex { meta: severity = "critical" strings: $h = { 6b 69 6e 73 69 6e 67 [0-8] 2e 73 68 } condition: $h }
rule any_elf : low { condition: elf.type == elf.ET_DYN or elf.type == elf.ET_EXEC }
"#;

#[test]
fn debian_minbase_with_a_test_rule_set_stays_below_medium_and_a_hidden_file_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rule_file(dir.path(), "set.yar", TEST_SET);
    let hidden = rule_file(
        dir.path(),
        "hidden.yar",
        r#"rule planted_blob { meta: severity = "high" strings: $h = { 7f 45 4c 46 [4-16] 73 74 72 61 74 75 6d } condition: $h }"#,
    );
    let base = Layer::from_tar(&minbase_tar(), Comp::Gzip);
    let write = |name: &str, layers: Vec<Layer>| {
        let spec = ImageSpec::new(layers);
        let p = dir.path().join(name);
        single_image_layout(&p, &spec, "latest");
        format!("oci-dir:{}", p.display())
    };
    let clean = write("clean", vec![base.clone()]);
    let (report, err, code) = scan(
        &clean,
        &["--yara", rules.to_str().unwrap(), "--fail-on", "medium"],
    );
    let loud: Vec<String> = findings(&report)
        .iter()
        .filter(|f| matches!(f["severity"].as_str(), Some("MEDIUM" | "HIGH" | "CRITICAL")))
        .map(|f| f.to_string())
        .collect();
    assert!(loud.is_empty(), "{}", loud.join("\n"));
    assert!(
        report.get("incomplete").is_none(),
        "{}",
        report["incomplete"]
    );
    assert_eq!(code, 0, "{err}");
    // The LOW rule did run: it marks the rootfs's ELF files, at LOW.
    let elf = yara_findings(&report)
        .iter()
        .filter(|f| f["id"] == "YARA-set-any_elf")
        .count();
    assert!(elf > 100, "any_elf on {elf} files");

    // A data file that a later layer deletes: the only place the rule matches.
    let mut blob = b"\x7fELF\x02\x01\x01\x00stratum".to_vec();
    blob.resize(2048, 0);
    let planted = write(
        "planted",
        vec![
            base,
            Layer::new(&[Ent::file("var/lib/app/blob.dat", &blob)], Comp::Gzip),
            Layer::new(&[Ent::Whiteout("var/lib/app/blob.dat".into())], Comp::Gzip),
        ],
    );
    let (report, err, code) = scan(&planted, &["--yara", hidden.to_str().unwrap()]);
    let fs = yara_findings(&report);
    assert_eq!(fs.len(), 1, "{fs:?}");
    let loc = &fs[0]["evidence"][0]["location"];
    assert_eq!(loc["path"], "var/lib/app/blob.dat");
    assert_eq!(loc["layer"], 1);
    assert_eq!(loc["hidden_by"], 2);
    assert_eq!(code, 1, "{err}");
}
