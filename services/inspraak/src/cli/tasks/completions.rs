//! `inspraak completions bash|zsh`: completion scripts generated from the
//! same definitions as the parser, so they never fall behind it.

use clap::CommandFactory;

use crate::cli::{Cli, Shell};

pub fn print(shell: Shell) {
    let mut command = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
    };
    clap_complete::generate(shell, &mut command, "inspraak", &mut std::io::stdout());
}
