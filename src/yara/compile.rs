//! Finding and compiling the rule files of `--yara`.

use super::budget::Budget;
use super::{namespace_of, LoadError, YaraOptions, YaraRules, MAX_RULE_FILES, MAX_RULE_FILE_BYTES};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Directory levels walked below a `--yara` directory.
const MAX_DEPTH: usize = 32;

/// One rule file found: where, its namespace, its bytes.
struct RuleFile {
    path: PathBuf,
    namespace: String,
    bytes: Vec<u8>,
}

fn read_bounded(p: &Path) -> Result<Vec<u8>, String> {
    let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_RULE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", p.display()))?;
    if bytes.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(format!(
            "{}: larger than {} MiB; not a rule file",
            p.display(),
            MAX_RULE_FILE_BYTES >> 20
        ));
    }
    Ok(bytes)
}

fn is_rule_name(p: &Path) -> bool {
    p.extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("yar") || x.eq_ignore_ascii_case("yara"))
}

/// Rule files under `dir`, sorted by path (symlinked directories are not followed).
fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(r) => r,
            Err(e) => {
                errors.push(format!("{}: {e}", d.display()));
                continue;
            }
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(t) = e.file_type() else { continue };
            if t.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                } else {
                    errors.push(format!(
                        "{}: nested deeper than {MAX_DEPTH} directories; not read",
                        p.display()
                    ));
                }
            } else if is_rule_name(&p) && (t.is_file() || p.is_file()) {
                if files.len() >= MAX_RULE_FILES {
                    errors.push(format!(
                        "{}: more than {MAX_RULE_FILES} rule files",
                        dir.display()
                    ));
                    return;
                }
                files.push(p);
            }
        }
    }
}

/// Every file named by `paths`, with its namespace (a directory's files: their path
/// below it; a file given directly: its name).
fn find(paths: &[PathBuf]) -> Result<Vec<RuleFile>, LoadError> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files, &mut errors);
            files.sort();
            if files.is_empty() {
                errors.push(format!("{}: no .yar or .yara files", p.display()));
            }
            for f in files {
                let rel = f.strip_prefix(p).unwrap_or(&f).to_path_buf();
                match read_bounded(&f) {
                    Ok(bytes) => out.push(RuleFile {
                        namespace: namespace_of(&rel),
                        path: f,
                        bytes,
                    }),
                    Err(e) => errors.push(e),
                }
            }
        } else {
            match read_bounded(p) {
                Ok(bytes) => out.push(RuleFile {
                    namespace: namespace_of(Path::new(p.file_name().unwrap_or_default())),
                    path: p.clone(),
                    bytes,
                }),
                Err(e) => errors.push(e),
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(LoadError(errors))
    }
}

/// Rules YARA-X serialized (`yr compile`) start with this.
fn is_compiled(bytes: &[u8]) -> bool {
    bytes.starts_with(b"YARA-X")
}

pub(super) fn load(paths: &[PathBuf], options: YaraOptions) -> Result<YaraRules, LoadError> {
    let files = find(paths)?;
    let mut h = Sha256::new();
    let mut feed = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    feed(format!("{}-{}", options.max_file_bytes, options.timeout.as_millis()).as_bytes());
    let mut compiler = yara_x::Compiler::new();
    compiler.relaxed_re_syntax(true);
    let mut sets: Vec<yara_x::Rules> = Vec::new();
    let mut errors = Vec::new();
    let mut sources = 0usize;
    for f in &files {
        feed(f.namespace.as_bytes());
        feed(&f.bytes);
        if is_compiled(&f.bytes) {
            match yara_x::Rules::deserialize(&f.bytes) {
                Ok(r) => sets.push(r),
                Err(e) => errors.push(format!(
                    "{}: not usable compiled rules: {e}",
                    f.path.display()
                )),
            }
            continue;
        }
        let text = match std::str::from_utf8(&f.bytes) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{}: not UTF-8 text: {e}", f.path.display()));
                continue;
            }
        };
        let origin = f.path.display().to_string();
        compiler.new_namespace(&f.namespace);
        if let Err(e) = compiler.add_source(yara_x::SourceCode::from(text).with_origin(&origin)) {
            errors.push(e.to_string());
        }
        sources += 1;
    }
    if !errors.is_empty() {
        return Err(LoadError(errors));
    }
    if sources > 0 {
        sets.insert(0, compiler.build());
    }
    let rules = sets.iter().map(|r| r.iter().len()).sum();
    let digest = hex::encode(&h.finalize()[..16]);
    Ok(YaraRules {
        sets: sets.into_iter().map(|r| &*Box::leak(Box::new(r))).collect(),
        digest,
        options,
        budget: Budget::new(options.max_file_bytes),
        rules,
    })
}
