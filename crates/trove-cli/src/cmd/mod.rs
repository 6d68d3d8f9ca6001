//! One module per area of the command line; each function is one command.

pub mod records;
pub mod share;
pub mod vault;
