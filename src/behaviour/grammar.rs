//! The data the judges read, from `signatures/behaviour.toml`: miner options and the values
//! that make them a miner's (algorithms, coins), miner release paths, and the programs,
//! paths and mount points the backdoor rules name. Later files extend earlier ones.

use serde::Deserialize;

/// What a miner option says about the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The pool: counts only when its value is `host:port` or a stratum URL.
    Pool,
    /// The wallet or pool login: counts only when its value looks like a wallet.
    User,
    /// The algorithm: counts only with a known algorithm.
    Algo,
    /// The coin: counts only with a known coin.
    Coin,
    /// A thread count: counts only when computed (`$(nproc)`) or on a long option.
    Threads,
    /// An option only miners have (`--donate-level`, `--nicehash`, `--cpu-priority`).
    Flag,
}

/// One option name and what it means.
#[derive(Debug, Clone)]
pub struct MinerOption {
    pub name: String,
    pub role: Role,
    /// Whether the option takes a value (the next word, or `=value`).
    pub takes_value: bool,
}

/// Everything `behaviour.toml` holds.
#[derive(Debug, Clone, Default)]
pub struct Grammar {
    pub options: Vec<MinerOption>,
    /// Lower-case algorithm names (`rx/0`, `kawpow`).
    pub algorithms: Vec<String>,
    /// Lower-case coin names and tickers (`monero`, `xmr`).
    pub coins: Vec<String>,
    /// URL fragments of miner release downloads (`github.com/xmrig/xmrig/releases/download/`).
    pub releases: Vec<String>,
    /// Programs that download (`curl`, `wget`, `tftp`).
    pub downloaders: Vec<String>,
    /// Mass scanners (`masscan`, `zmap`).
    pub scanners: Vec<String>,
    /// Credential paths and metadata endpoints (substrings of a command).
    pub credentials: Vec<String>,
    /// Directories where a container sees the host's root (`/host`).
    pub host_roots: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    option: Vec<OptionGroup>,
    #[serde(default)]
    algorithms: Vec<List>,
    #[serde(default)]
    coins: Vec<List>,
    #[serde(default)]
    release: Vec<List>,
    #[serde(default)]
    downloader: Vec<List>,
    #[serde(default)]
    scanner: Vec<List>,
    #[serde(default)]
    credential: Vec<List>,
    #[serde(default)]
    host_root: Vec<List>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionGroup {
    names: Vec<String>,
    role: Role,
    #[serde(default = "yes")]
    takes_value: bool,
    source: String,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    names: Vec<String>,
    source: String,
}

fn extend(into: &mut Vec<String>, groups: Vec<List>, lower: bool) -> Result<(), String> {
    for g in groups {
        if g.source.trim().is_empty() {
            return Err(format!("empty source for {:?}", g.names));
        }
        for n in g.names {
            let n = if lower { n.to_ascii_lowercase() } else { n };
            if n.trim().is_empty() {
                return Err("empty name".into());
            }
            if !into.contains(&n) {
                into.push(n);
            }
        }
    }
    Ok(())
}

impl Grammar {
    /// Add the entries of one `behaviour.toml` text. Err: why, for the caller to place.
    pub fn add(&mut self, text: &str) -> Result<(), toml::de::Error> {
        let f: File = toml::from_str(text)?;
        let bad = |m: String| <toml::de::Error as serde::de::Error>::custom(m);
        for g in f.option {
            if g.source.trim().is_empty() {
                return Err(bad(format!("option {:?}: empty source", g.names)));
            }
            for name in g.names {
                if !name.starts_with('-') || name.len() < 2 {
                    return Err(bad(format!("option {name:?} does not start with '-'")));
                }
                self.options.retain(|o| o.name != name);
                self.options.push(MinerOption {
                    name,
                    role: g.role,
                    takes_value: g.takes_value,
                });
            }
        }
        extend(&mut self.algorithms, f.algorithms, true).map_err(bad)?;
        extend(&mut self.coins, f.coins, true).map_err(bad)?;
        extend(&mut self.releases, f.release, true).map_err(bad)?;
        extend(&mut self.downloaders, f.downloader, false).map_err(bad)?;
        extend(&mut self.scanners, f.scanner, false).map_err(bad)?;
        extend(&mut self.credentials, f.credential, true).map_err(bad)?;
        extend(&mut self.host_roots, f.host_root, false).map_err(bad)?;
        Ok(())
    }

    /// The embedded `signatures/behaviour.toml` alone (for tests and callers without
    /// a full signature set).
    pub fn embedded() -> Grammar {
        let mut g = Grammar::default();
        g.add(include_str!("../../signatures/behaviour.toml"))
            .expect("embedded behaviour.toml is valid");
        g
    }

    /// The option named exactly `name`.
    pub fn option(&self, name: &str) -> Option<&MinerOption> {
        self.options.iter().find(|o| o.name == name)
    }
}
