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
