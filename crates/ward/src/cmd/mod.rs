//! One module per subcommand: each turns its clap `Args` into a library config,
//! calls one library entry point, and hands the report to `render`.

pub(crate) mod completions;
pub(crate) mod e2e;
pub(crate) mod http_flags;
pub(crate) mod keepalive;
pub(crate) mod lab;
pub(crate) mod load;
pub(crate) mod lookup;
pub(crate) mod man;
pub(crate) mod nurse;
pub(crate) mod probe;
pub(crate) mod slo;

/// Test support: parses `argv` (what follows the subcommand's name) into one
/// subcommand's flattened `Args`, as clap's `try_parse_from` would.
#[cfg(test)]
pub(crate) fn try_parse<A: clap::Args>(
    name: &'static str,
    argv: &[&str],
) -> Result<A, clap::Error> {
    let cmd = A::augment_args(clap::Command::new(name));
    let matches = cmd.try_get_matches_from(std::iter::once(name).chain(argv.iter().copied()))?;
    A::from_arg_matches(&matches)
}
