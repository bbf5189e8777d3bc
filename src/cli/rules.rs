//! `imgscan rules ...` (work in progress; owned by its issue).

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Parse and lint rules.
    Check { paths: Vec<String> },
}

pub fn run(_c: Command) -> i32 {
    super::fail("`rules` is not built yet")
}
