//! The judge scheduler as a library: the scheduling core and the adapters around it.
//! The binary (`main.rs`) only wires these together.

pub mod core;
