//! `kubectl scale --replicas=N TYPE NAME`: through the `scale` subresource, as upstream. With
//! `--current-replicas` (or `--resource-version`) the scale is read first and written back with
//! its resourceVersion, so a concurrent change fails instead of being overwritten.

use super::apply::finish;
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::remote::PatchType;
use crate::session::Session;
use crate::targets::{self, Selection, Target};
use serde_json::{json, Value};

/// Arguments of `kubectl scale`.
#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`.
    pub args: Vec<String>,
    /// The new desired number of replicas. Required.
    #[arg(long, allow_negative_numbers = true)]
    pub replicas: Option<i64>,
    /// Precondition for current size: the scale fails unless the current replicas match.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub current_replicas: i64,
    /// Precondition for resource version.
    #[arg(long)]
    pub resource_version: Option<String>,
    /// Files with the resources to scale.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Select all resources of the given types.
    #[arg(long)]
    pub all: bool,
    /// Output format: only "name".
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// Checks the `--current-replicas` precondition against the live scale. Pure.
pub fn check_precondition(expected: i64, scale: &Value) -> Result<(), CliError> {
    if expected < 0 {
        return Ok(());
    }
    let actual = scale
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if actual != expected {
        return Err(CliError::usage(format!(
            "Expected replicas to be {expected}, was {actual}"
        )));
    }
    Ok(())
}

pub async fn run(flags: &GlobalFlags, args: ScaleArgs) -> Result<(), CliError> {
    let replicas = match args.replicas {
        Some(r) if r >= 0 => r,
        _ => {
            return Err(CliError::usage(
                "--replicas=COUNT is required, and COUNT must be greater than or equal to 0",
            ))
        }
    };
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: args.args.clone(),
        filenames: args.filenames.clone(),
        recursive: false,
        selector: args.selector.clone(),
        all: args.all,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    if resolved.targets.is_empty() && errors.is_empty() {
        return Err(CliError::usage("no objects passed to scale"));
    }
    for target in &resolved.targets {
        match scale_one(&session, target, &args, replicas).await {
            Ok(()) if args.output.as_deref() == Some("name") => println!("{}", target.display()),
            Ok(()) => println!("{} scaled", target.display()),
            Err(e) => errors.push(e),
        }
    }
    finish(errors)
}

async fn scale_one(
    session: &Session,
    target: &Target,
    args: &ScaleArgs,
    replicas: i64,
) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    if args.current_replicas < 0 && args.resource_version.is_none() {
        let patch = json!({"spec": {"replicas": replicas}});
        endpoint
            .patch(&target.name, Some("scale"), PatchType::Merge, &patch, &[])
            .await?;
        return Ok(());
    }
    let mut scale = endpoint.get_subresource(&target.name, "scale").await?;
    check_precondition(args.current_replicas, &scale)?;
    if let Some(version) = &args.resource_version {
        let live = scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if live != version {
            return Err(CliError::usage(format!(
                "Expected resourceVersion to be {version}, was {live}"
            )));
        }
    }
    scale["spec"]["replicas"] = json!(replicas);
    endpoint
        .replace(&target.name, Some("scale"), &scale)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preconditions_compare_the_live_size() {
        let scale = json!({"spec": {"replicas": 3}});
        assert!(check_precondition(-1, &scale).is_ok());
        assert!(check_precondition(3, &scale).is_ok());
        assert_eq!(
            check_precondition(2, &scale).unwrap_err().to_string(),
            "error: Expected replicas to be 2, was 3"
        );
        assert_eq!(
            check_precondition(1, &json!({"spec": {}}))
                .unwrap_err()
                .to_string(),
            "error: Expected replicas to be 1, was 0"
        );
    }
}
