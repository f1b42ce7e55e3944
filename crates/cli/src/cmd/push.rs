//! `push`: upload an image's blobs (skipping those the registry has) and its manifest.

use crate::cli::PushArgs;
use crate::cmd::images::{familiar_repo, find_image};
use crate::ctx::Ctx;
use crate::progress::{Progress, Status};
use anyhow::{Context, Result};

pub(crate) fn run(ctx: &Ctx, args: &PushArgs) -> Result<()> {
    let reference = crate::cmd::pull::parse_reference(&args.image)?;
    let reference = if reference.tag().is_none() && reference.digest().is_none() {
        reference.with_tag("latest")?
    } else {
        reference
    };
    let store = ctx.store()?;
    let image = find_image(&store, &args.image).with_context(|| {
        format!(
            "An image does not exist locally with the tag: {}",
            familiar_repo(&reference.name())
        )
    })?;
    let client = crate::cmd::pull::client(ctx)?;
    let progress = Progress::new(args.quiet);
    progress.line(&format!(
        "The push refers to repository [{}]",
        reference.name()
    ));
    for layer in image.layers.iter().rev() {
        progress.update(
            crate::format::short_id(layer.digest.digest()),
            Status::Preparing,
            None,
        );
    }
    for layer in image.layers.iter().rev() {
        let id = crate::format::short_id(layer.digest.digest());
        if client.blob_exists(&reference, &layer.digest)? {
            progress.update(id, Status::LayerAlreadyExists, None);
            continue;
        }
        let file = store.blobs().open(&layer.digest)?;
        progress.update(id, Status::Pushing, Some((0, layer.size)));
        let mut file = file;
        client.push_blob(&reference, &layer.digest, layer.size, &mut file)?;
        progress.update(id, Status::Pushed, None);
    }
    let config = store.blobs().read(&image.config_digest)?;
    if !client.blob_exists(&reference, &image.config_digest)? {
        client.push_blob_bytes(&reference, &config)?;
    }
    let manifest = store.blobs().read(&image.manifest_digest)?;
    let media_type = image
        .manifest_media_type
        .clone()
        .unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".to_owned());
    let digest = client.push_manifest(&reference, &media_type, &manifest)?;
    progress.finish();
    let tag = reference.tag().unwrap_or("latest");
    if args.quiet {
        println!("{reference}");
    } else {
        println!("{tag}: digest: {digest} size: {}", manifest.len());
    }
    Ok(())
}
