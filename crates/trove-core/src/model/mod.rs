//! Trove's model: what a record, a scope, a grant and a remote peer are, and the pure
//! rules over them (validation, projection, status at a time). Nothing here touches the
//! vault, a file or the clock: storage modules build on these types, never the reverse
//! (see docs/architecture.md; `tests/layering.rs` checks it).
//!
//! Inside the model, `record` uses only the schemas, `scope` uses `record`, and `grant`
//! uses `scope` and `peer`.

pub mod grant;
pub mod peer;
pub mod record;
pub mod scope;
