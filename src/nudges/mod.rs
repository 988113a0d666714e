//! Nudges: the catalogue of advice and the policy deciding when to show and clear it.

pub mod catalogue;
pub mod policy;

pub use catalogue::{Kind, TextLanguage, ALL_KINDS};
