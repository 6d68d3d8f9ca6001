//! One module per area of the command line; each function is one command.

pub mod bundle;
pub mod records;
pub mod remote;
pub mod share;
pub mod storage;
pub mod vault;
