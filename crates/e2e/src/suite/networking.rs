//! The `networking` test.

use super::Ctx;
use crate::error::{Error, Result};

/// Runs the test.
pub(crate) async fn run(_ctx: &Ctx<'_>) -> Result<()> {
    Err(Error::Config("not implemented yet".into()))
}
