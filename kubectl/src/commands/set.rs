//! `kubectl set image TYPE NAME CONTAINER=IMAGE...`: changes container images in a pod
//! template (or a pod) with a two-way strategic merge patch, as upstream. `*=IMAGE` sets every
//! container; naming a container that does not exist fails with upstream's message.

use super::apply::finish;
use super::label::split_resources_and_pairs;
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::remote::PatchType;
use crate::targets::{self, Selection};
use serde_json::Value;
use tinykube_apimachinery::patch_meta;
use tinykube_apimachinery::strategic_merge;

/// Subcommands of `kubectl set`.
#[derive(Debug, clap::Subcommand)]
pub enum SetCommand {
    /// Update the image of a pod template.
    Image(SetImageArgs),
}

/// Arguments of `kubectl set image`.
#[derive(Debug, clap::Args)]
pub struct SetImageArgs {
    /// `TYPE NAME` or `TYPE/NAME`, then `CONTAINER=IMAGE` pairs.
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources of the given types.
    #[arg(long)]
    pub all: bool,
    /// Files with the resources to update.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
}

pub async fn run(flags: &GlobalFlags, command: SetCommand) -> Result<(), CliError> {
    let SetCommand::Image(args) = command;
    let (resources, pairs) = split_resources_and_pairs(&args.args, "image")?;
    if pairs.is_empty() {
        return Err(CliError::usage("at least one image update is required"));
    }
    let images = parse_images(&pairs)?;
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: resources,
        filenames: args.filenames.clone(),
        recursive: false,
        selector: args.selector.clone(),
        all: args.all,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        let endpoint = target.endpoint(&session);
        let live = match endpoint.get(&target.name).await {
            Ok(live) => live,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let mut updated = live.clone();
        if let Err(e) = set_images(&mut updated, &images) {
            errors.push(e);
            continue;
        }
        let (Value::Object(before), Value::Object(after)) = (&live, &updated) else {
            continue;
        };
        let schema = patch_meta::for_kind(&target.rtype.group, &target.rtype.kind);
        let patch = strategic_merge::two_way(before, after, schema)
            .map_err(|e| CliError::usage(e.to_string()))?;
        if patch.is_empty() {
            continue;
        }
        match endpoint
            .patch(
                &target.name,
                None,
                PatchType::Strategic,
                &Value::Object(patch),
                &[],
            )
            .await
        {
            Ok(_) => println!("{} image updated", target.display()),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

/// `CONTAINER=IMAGE` pairs, in order. Pure.
pub fn parse_images(pairs: &[String]) -> Result<Vec<(String, String)>, CliError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, image)) if !name.is_empty() && !image.is_empty() => {
                Ok((name.to_owned(), image.to_owned()))
            }
            _ => Err(CliError::usage(format!(
                "invalid image update spec: {pair}"
            ))),
        })
        .collect()
}

/// Where the containers of an object live: a pod's spec or a template's.
fn pod_spec_mut(object: &mut Value) -> Option<&mut Value> {
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let pointer = match kind.as_str() {
        "Pod" => "/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "/spec/template/spec",
    };
    object.pointer_mut(pointer)
}

/// Sets the images of the named containers (init containers too) of `object`. Pure.
pub fn set_images(object: &mut Value, images: &[(String, String)]) -> Result<(), CliError> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let spec = pod_spec_mut(object).ok_or_else(|| {
        CliError::usage(format!(
            "{name} has no pod template whose images could be set"
        ))
    })?;
    for (container, image) in images {
        let mut found = false;
        for field in ["initContainers", "containers"] {
            for item in spec
                .get_mut(field)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let matches = container == "*"
                    || item.get("name").and_then(Value::as_str) == Some(container.as_str());
                if matches {
                    item["image"] = Value::String(image.clone());
                    found = true;
                }
            }
        }
        if !found {
            return Err(CliError::usage(format!(
                "unable to find container named \"{container}\""
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn images_are_set_by_container_name() {
        let mut deploy = json!({"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": "a"}],
            "containers": [{"name": "main", "image": "a"}, {"name": "side", "image": "a"}],
        }}}});
        set_images(&mut deploy, &[("main".into(), "b".into())]).unwrap();
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "b"
        );
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][1]["image"],
            "a"
        );
        set_images(&mut deploy, &[("*".into(), "c".into())]).unwrap();
        assert_eq!(
            deploy["spec"]["template"]["spec"]["initContainers"][0]["image"],
            "c"
        );
        assert_eq!(
            set_images(&mut deploy, &[("nope".into(), "c".into())])
                .unwrap_err()
                .to_string(),
            "error: unable to find container named \"nope\""
        );
        let mut pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "a"}]}});
        set_images(&mut pod, &[("c".into(), "b".into())]).unwrap();
        assert_eq!(pod["spec"]["containers"][0]["image"], "b");
        assert!(parse_images(&["x".into()]).is_err());
    }
}
