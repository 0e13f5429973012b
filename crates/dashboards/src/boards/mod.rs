//! One function per dashboard. Queries select through the dashboards'
//! variables (`$job` and friends, regexes so "All" is `.*`) and use
//! `$__rate_interval` for rates.

mod control_plane;
mod e2e;
mod lookup;
mod nurse;
mod slo;

pub use control_plane::control_plane;
pub use e2e::e2e;
pub use lookup::lookup;
pub use nurse::nurse;
pub use slo::slo;
