//! `bandit-engine`: the command-line face of the library.

mod cli;

fn main() -> std::process::ExitCode {
    // A closed pipe (`bandit-engine resolve ... | head`) ends the process quietly, as
    // it does for other Unix tools, instead of a panic on the next write: Rust ignores
    // SIGPIPE by default.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Attribution's buffers are reused from run to run instead of mapped afresh.
    bandit_engine::memory::keep_freed_memory();
    cli::main()
}
