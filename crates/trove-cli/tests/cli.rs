//! End-to-end tests of the `trove` binary: each runs the real CLI on a temporary vault
//! with a temporary HOME and no D-Bus session, so no test touches real data or keyring.

mod support;

mod bundle;
mod crash;
mod damage;
mod hardening;
mod keys;
mod org;
mod plaintext;
mod records;
mod remote;
mod share;
mod snapshots;
mod staged;
