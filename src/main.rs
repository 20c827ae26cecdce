//! `bandit-engine`: the command-line face of the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
