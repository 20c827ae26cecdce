//! The config bundle as the engine rewrites it: the order-preserving
//! [`BundleDocument`] over the typed model of [`crate::sdk::model`], and the diff
//! between two bundles. Reading and resolving a bundle is [`crate::sdk`]; writing one
//! out is [`crate::publish`].

pub mod diff;
pub(crate) mod document;

// `document` names the typed model `super::model`.
use crate::sdk::model;

pub use crate::sdk::model::{Allocation, Bundle, BundleLayer, Policy, PolicyKind, PolicyState};
pub use document::{BundleDocument, PolicyRef};
