//! sloth's contrib SLO plugins (`sloth.dev/contrib/*`), implemented natively.

use crate::model::{PluginRef, SloRules};

use super::Request;

/// Supported contrib plugin ids.
pub const IDS: &[&str] = &[];

/// A configured contrib plugin.
#[derive(Debug, Clone)]
pub enum Contrib {}

/// Builds a contrib plugin from its declaration.
pub fn build(p: &PluginRef) -> Result<Contrib, String> {
    Err(format!("plugin {:?} not found", p.id))
}

impl Contrib {
    /// Runs the plugin.
    pub fn process(&self, _req: &Request<'_>, _res: &mut SloRules) -> Result<(), String> {
        match *self {}
    }
}
