//! YAML in and out, with yaml.v2's (YAML 1.1) semantics: `resolve` types
//! plain scalars, `tree` reads a document (`block` reads the common
//! subset faster), `emit` writes rule files in yaml.v2's exact layout
//! (`scalar` decides which styles a string allows, `order` sorts keys).

pub mod block;
pub mod emit;
pub mod order;
pub mod resolve;
mod scalar;
pub mod tree;
