//! OCI Distribution client for mydocker: image references, authentication, manifests and
//! image indexes, platform choice, verified streamed blob download, and push.
//!
//! This crate knows nothing about files on disk or namespaces; callers decide where blobs go.
