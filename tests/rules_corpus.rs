//! Every rule of the Chronicle community corpus (`../shared/yaral-corpus/rules/`,
//! including `_deprecated`) parses; reference lists resolve from
//! `community/reference_lists/`.

use imgscan::rules::{Level, RuleSet};
mod common;

use std::path::{Path, PathBuf};

fn corpus() -> PathBuf {
    common::shared("yaral-corpus/rules")
}

fn yaral_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaral_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaral") {
            out.push(p);
        }
    }
}

#[test]
fn every_corpus_rule_parses() {
    let root = corpus();
    let root = root.as_path();
    let lists = root.join("community/reference_lists");
    let mut files = vec![];
    yaral_files(root, &mut files);
    files.sort();
    assert_eq!(files.len(), 886, "corpus size changed");
    let checks = RuleSet::check(&files, Some(&lists)).unwrap();
    let mut failures = vec![];
    let mut rules = 0;
    for c in &checks {
        rules += c.rules.len();
        for d in c.diagnostics.iter().filter(|d| d.level == Level::Error) {
            failures.push(d.to_string());
        }
        if c.rules.is_empty() && !c.diagnostics.iter().any(|d| d.level == Level::Error) {
            failures.push(format!("{}: no rule found", c.file));
        }
    }
    for f in &failures {
        println!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} of {} files failed to parse",
        failures.len(),
        files.len()
    );
    assert!(rules >= 886);
    // The whole corpus also loads as one rule set (names may repeat across the
    // deprecated tree, so load the community tree alone).
    let set = RuleSet::parse_files(&[root.join("community")], Some(&lists)).unwrap();
    assert!(set.len() > 100);
}

#[test]
fn reference_lists_resolve() {
    let root = corpus();
    let root = root.as_path();
    let lists = root.join("community/reference_lists");
    let f = root.join(
        "community/microsoft/entra_id/entra_id_login_activity_to_uncommon_mscloud_apps.yaral",
    );
    let set = RuleSet::parse_files(std::slice::from_ref(&f), Some(&lists)).unwrap();
    assert!(
        !set.warnings()
            .iter()
            .any(|w| w.message.contains("%first_party_ms_cloud_apps")),
        "{:?}",
        set.warnings()
    );
    // Without the directory the list is reported missing.
    let set = RuleSet::parse_files(&[f], None).unwrap();
    assert!(set
        .warnings()
        .iter()
        .any(|w| w.message.contains("%first_party_ms_cloud_apps not found")));
}
