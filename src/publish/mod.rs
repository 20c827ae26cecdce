//! Publishing a bundle: the guards it must pass ([`guard`], with the structural rules
//! of the platform's bundle schema in [`schema`]), atomic file writes, and the
//! versioned output directory with its lock and rollback ([`Store`]).

mod crash;
pub mod guard;
mod lock;
pub mod schema;
pub mod store;
mod write;

pub use guard::check_publishable;
pub use store::{Lock, PublishOptions, Store};
pub use write::{publish, write_atomic};
