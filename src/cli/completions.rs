//! `imgscan completions SHELL`: a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the clap definition (so it never goes stale), on stdout.
//!
//! ```text
//! imgscan completions bash > /etc/bash_completion.d/imgscan
//! imgscan completions zsh  > "${fpath[1]}/_imgscan"
//! imgscan completions fish > ~/.config/fish/completions/imgscan.fish
//! ```

use clap::CommandFactory;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(a: Args) -> i32 {
    let mut cmd = super::with_env(super::Cli::command());
    clap_complete::generate(a.shell, &mut cmd, "imgscan", &mut std::io::stdout());
    super::EXIT_CLEAN
}
