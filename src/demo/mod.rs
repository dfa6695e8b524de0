//! The embedded demo: a throwaway PKI and local backends, so `h2edge demo` needs nothing else.
//!
//! - [`pki`]: a throwaway CA and the certificates the demo (and the tests) need.

pub mod pki;
