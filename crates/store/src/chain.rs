//! OCI chain IDs: the identity of a stack of layers.
//!
//! `ChainID(L0) = DiffID(L0)` and `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " +
//! DiffID(Ln))`, as the OCI image spec defines it.

use oci_spec::image::Digest;

use crate::digest::{sha256_hex, sha256_of};
use crate::error::Result;

/// The chain ID of `diff_id` stacked on a parent chain (`None` for a base layer).
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Result<Digest> {
    sha256_hex(diff_id)?;
    match parent {
        None => Ok(diff_id.clone()),
        Some(p) => {
            sha256_hex(p)?;
            Ok(sha256_of(format!("{p} {diff_id}").as_bytes()))
        }
    }
}

/// Chain IDs for a list of diff IDs, base first.
pub fn chain_ids(diff_ids: &[Digest]) -> Result<Vec<Digest>> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = chain_id(out.last(), d)?;
        out.push(next);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::parse_sha256;

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        let a = sha256_of(b"a");
        let b = sha256_of(b"b");
        let ids = chain_ids(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256_of(format!("{a} {b}").as_bytes()));
        // Known value from the busybox image (single layer): chain ID == diff ID.
        let d =
            parse_sha256("sha256:3d24ee258efc3bfe4066a1a9fb83febf6dc0b1548dfe896161533668281c9f4f")
                .unwrap();
        assert_eq!(chain_ids(std::slice::from_ref(&d)).unwrap(), vec![d]);
    }
}
