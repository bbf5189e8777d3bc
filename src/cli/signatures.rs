//! `imgscan signatures list [--signatures DIR]`: what detection data is loaded and from
//! where ([`crate::report::inventory::Inventory`]).

use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// List the signature files (embedded or from --signatures), entries per kind, the
    /// embedded YARA-L rules and the set's digest.
    List {
        /// Extend the embedded signatures with the files in DIR, as `scan --signatures`.
        #[arg(long, value_name = "DIR")]
        signatures: Option<PathBuf>,
    },
}

pub fn run(c: Command) -> i32 {
    let Command::List { signatures } = c;
    match crate::report::inventory::Inventory::load(signatures.as_deref()) {
        Ok(i) => {
            print!("{}", i.table());
            super::EXIT_CLEAN
        }
        Err(e) => super::fail(e),
    }
}
