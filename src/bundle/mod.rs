//! The platform's config bundle: typed model, order-preserving document, hashing,
//! resolution as the reference SDK does it, and atomic publishing.

pub mod conditions;
pub mod conformance;
pub mod contextual;
pub mod diff;
pub mod document;
pub mod entity_totals;
pub mod guard;
pub mod hash;
pub mod js;
pub mod model;
pub mod publish;
pub mod resolve;
pub mod resolver;
pub mod schema;
pub mod state;
pub mod store;

pub use conditions::evaluate_condition;
pub use document::{BundleDocument, PolicyRef};
pub use guard::check_publishable;
pub use hash::HashContract;
pub use model::{Allocation, Bundle, BundleLayer, Policy, PolicyKind, PolicyState};
pub use publish::{publish, write_atomic};
pub use resolve::{
    resolve, DistributionKind, EdgeResult, LayerResolution, PolicyDistribution, Resolution,
    ResolveError, ResolveOptions,
};
pub use resolver::{Chosen, LayerDecision, Resolver};
pub use state::EngineState;
pub use store::{PublishOptions, Store};
