//! What an SDK does with the platform's config bundle: its typed model, the hash
//! contracts, conditions, the JavaScript number rules, contextual scoring, resolution
//! as the reference SDK does it, and the conformance runner over the SDK test vectors.
//!
//! This module reads bundles and never writes them (that is [`crate::bundle`] and
//! [`crate::publish`]). It needs no polars and no other engine module, only the
//! crate's [`Error`](crate::Error) for the conformance runner's file reading, so it
//! could become a crate of its own for a serving process.

pub(crate) mod conditions;
pub mod conformance;
pub mod contextual;
pub mod hash;
pub mod js;
pub mod model;
pub mod resolve;
pub(crate) mod resolver;

pub use conditions::evaluate_condition;
pub use hash::HashContract;
pub use model::{Allocation, Bundle, BundleLayer, Policy, PolicyKind, PolicyState};
pub use resolve::{
    resolve, DistributionKind, EdgeResult, LayerResolution, PolicyDistribution, Resolution,
    ResolveError, ResolveOptions,
};
pub use resolver::{Chosen, LayerDecision, Resolver};
