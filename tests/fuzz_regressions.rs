//! Inputs the fuzzers found (and small hand-made ones of the same shapes), replayed on
//! stable by plain `cargo test` through the very harness the fuzz targets run
//! (`fuzz/src/lib.rs`): `testdata/fuzz-regressions/<target>/*`, each fed to that
//! target's entry point. Each must return (no panic) within the harness's own bounds;
//! tests below check what the fix made of the ones that crashed.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/fuzz-regressions")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v.into_iter()
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

/// Every kept input of `target` runs through `run` without a panic.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let all = inputs(target);
    for (p, data) in &all {
        let r = std::panic::catch_unwind(|| run(data));
        assert!(r.is_ok(), "{target}: {} panicked", p.display());
    }
    all.len()
}

macro_rules! replays {
    ($($t:ident),* $(,)?) => {$(
        #[test]
        fn $t() {
            let n = replay(stringify!($t), harness::$t::run);
            assert!(n > 0, "no inputs kept for {}", stringify!($t));
        }
    )*};
}

replays!(
    layer_walk,
    nested_archive,
    manifests,
    binary,
    shell,
    reference,
    yaral,
    udm_eval,
    ignore,
    signatures,
    admission,
    logs,
);

// ---- pathological content (issue 14, part 4) ------------------------------------------

use imgscan::limits::Limits;

fn scan(blobs: Vec<Vec<u8>>, limits: &Limits) -> imgscan::report::Report {
    let opened = harness::image(blobs);
    imgscan::scan::scan_image(&opened, harness::sigs(), harness::rules(), limits, 1).0
}

/// A GNU sparse tar entry: `realsize` bytes of file, of which only `data` (at the end)
/// is stored.
fn sparse_tar(path: &str, realsize: u64, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).unwrap();
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(data.len() as u64);
    let g = h.as_gnu_mut().unwrap();
    g.sparse[0].offset = octal12(realsize - data.len() as u64);
    g.sparse[0].numbytes = octal12(data.len() as u64);
    g.realsize = octal12(realsize);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// A 12-byte tar number: octal, or GNU base-256 when it does not fit (over 8 GiB).
fn octal12(v: u64) -> [u8; 12] {
    let mut f = [0u8; 12];
    if v < 1 << 33 {
        f.copy_from_slice(format!("{v:011o}\0").as_bytes());
    } else {
        f[0] = 0x80;
        f[4..].copy_from_slice(&v.to_be_bytes());
    }
    f
}

/// A 100 GiB sparse entry (10 KiB stored) is not expanded: reading through its holes
/// took 10 s here (a 2^60-byte one would never end). It is past the layer bound, which
/// is reported, naming the file; the scan is incomplete.
#[test]
fn a_100_gib_sparse_entry_is_bounded_and_reported() {
    let layer = sparse_tar(
        "opt/big",
        100 << 30,
        &b"Usage: xmrig [OPTIONS]\n".repeat(400),
    );
    let limits = Limits {
        file_bytes: 4 << 20,
        ..Limits::default()
    };
    let report = scan(vec![layer], &limits);
    assert!(
        report
            .incomplete
            .iter()
            .any(|s| s.contains("opt/big") && s.contains("sparse")),
        "{:?}",
        report.incomplete
    );
}

/// A zip whose central directory lists the same deflated kernel many times (a zip bomb
/// by overlap): the entries decompress to at most the per-archive budget in all, which
/// is reported as a limit.
#[test]
fn an_overlapping_zip_is_bounded_by_the_archive_budget() {
    let kernel = vec![b'A'; 8 << 20];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("k", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, &kernel).unwrap();
    let one = w.finish().unwrap().into_inner();
    let bomb = overlap(&one, 64);
    // Sanity: the crate opens it with 64 entries (else the test proves nothing).
    let z = zip::ZipArchive::new(std::io::Cursor::new(bomb.clone()));
    let entries = z.as_ref().map(|z| z.len()).unwrap_or(0);
    let layer = imgscan_testkit::layer_tar(&[imgscan_testkit::Ent::file("opt/x/bomb.zip", bomb)]);
    let limits = Limits {
        file_bytes: 16 << 20,
        ..Limits::default()
    };
    let report = scan(vec![layer], &limits);
    assert!(
        entries > 2,
        "the zip crate takes the overlapping entries ({entries})"
    );
    assert!(
        report
            .incomplete
            .iter()
            .any(|s| s.contains("bomb.zip") && s.contains("decompressed bytes")),
        "{:?}",
        report.incomplete
    );
}

/// `one` (a zip of one entry) with its central directory record repeated `n` times, each
/// under its own name, all pointing at the one local header.
fn overlap(one: &[u8], n: u16) -> Vec<u8> {
    let eocd = one.len() - 22;
    assert_eq!(&one[eocd..eocd + 4], b"PK\x05\x06");
    let cd_off = u32::from_le_bytes(one[eocd + 16..eocd + 20].try_into().unwrap()) as usize;
    let rec = &one[cd_off..eocd];
    let mut out = one[..cd_off].to_vec();
    let start = out.len();
    for i in 0..n {
        let mut r = rec.to_vec();
        // Same name length (1): the names differ by their byte.
        r[46] = b'a' + (i % 26) as u8;
        if i >= 26 {
            r[46] = b'A' + (i % 26) as u8;
        }
        out.extend_from_slice(&r);
    }
    let size = (out.len() - start) as u32;
    let mut e = one[eocd..].to_vec();
    e[8..10].copy_from_slice(&n.to_le_bytes());
    e[10..12].copy_from_slice(&n.to_le_bytes());
    e[12..16].copy_from_slice(&size.to_le_bytes());
    e[16..20].copy_from_slice(&(start as u32).to_le_bytes());
    out.extend_from_slice(&e);
    out
}

fn deep_json(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn deep_object(key: &str, depth: usize) -> String {
    format!(
        "{}1{}",
        format!("{{\"{key}\":").repeat(depth),
        "}".repeat(depth)
    )
}

/// JSON nested 100,000 deep in a config, a UDM event, an AdmissionReview, a log record
/// and an OCI index: refused by the parser's depth bound, never a stack overflow.
#[test]
fn deeply_nested_json_is_refused_not_recursed() {
    let deep = deep_json(100_000);
    let err = imgscan::source::config::parse_config(deep.as_bytes()).unwrap_err();
    assert!(!err.is_empty());
    let obj = deep_object("a", 100_000);
    let cfg = format!("{{\"config\":{obj}}}");
    assert!(imgscan::source::config::parse_config(cfg.as_bytes()).is_err());

    let v: Result<serde_json::Value, _> = serde_json::from_str(&obj);
    assert!(v.is_err(), "serde_json's recursion limit holds");

    let reviewer = imgscan::admission::review::Reviewer::new(
        imgscan::admission::policy::Policy::default(),
        &imgscan::admission::review::NamesOnly,
    );
    let body = format!("{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{{\"uid\":\"u\",\"object\":{obj}}}}}");
    let out = imgscan::admission::review::review_body(body.as_bytes(), &reviewer);
    assert!(out.invalid && !out.allowed);

    let mut problems = 0;
    let mut events = 0;
    imgscan::logs::read_reader(
        Box::new(std::io::Cursor::new(
            format!("{obj}\n{deep}\n").into_bytes(),
        )),
        "deep",
        imgscan::logs::Format::Auto,
        &imgscan::logs::Limits::default(),
        &mut |i| match i {
            imgscan::logs::Item::Problem(_) => problems += 1,
            imgscan::logs::Item::Event(_) => events += 1,
        },
    );
    assert_eq!((events, problems), (0, 2));

    // The harnesses too (manifests: an OCI index that deep; UDM lines).
    let mut m = vec![3u8];
    m.extend_from_slice(obj.as_bytes());
    harness::manifests::run(&m);
    harness::udm_eval::run(format!("{obj}\n{deep}").as_bytes());
    harness::layer_walk::run(&[]);
}
