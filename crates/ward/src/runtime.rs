//! The async runtime a subcommand runs on (how many threads is the
//! subcommand's choice; building it is the binary's).

use anyhow::Context;

/// The threads a subcommand's runtime gets.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Threads {
    /// One thread (a CLI doing one thing at a time).
    One,
    /// A fixed number of worker threads (agents: small and predictable).
    Workers(usize),
    /// One worker per core (load generation).
    PerCore,
}

/// Builds the async runtime.
pub(crate) fn runtime(threads: Threads) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Workers(_) | Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
    };
    if let Threads::Workers(n) = threads {
        builder.worker_threads(n);
    }
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}
