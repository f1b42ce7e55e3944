//! The mydocker store: a content-addressed blob store, image records and tags, safe layer
//! unpacking, and the storage drivers (`overlay`, `aufs`, `copy`) behind one trait.
//!
//! This crate knows nothing about HTTP or processes.
