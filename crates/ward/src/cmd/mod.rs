//! One module per subcommand: each turns its clap `Args` into a library config,
//! calls one library entry point, and hands the report to `render`.

pub mod completions;
pub mod e2e;
pub mod http_flags;
pub mod keepalive;
pub mod lab;
pub mod load;
pub mod lookup;
pub mod man;
pub mod nurse;
pub mod probe;
pub mod slo;
