//! `kubectl delete`: by `TYPE NAME...`, `TYPE/NAME`, `-f`, `-l` or `--all`, with the cascade
//! policy and grace period upstream sends, then (by default) waiting until every deleted object
//! is gone, as upstream's `--wait` does: an object counts as gone once a GET answers NotFound or
//! returns a different UID (the name was reused).

use super::apply::finish;
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::session::Session;
use crate::targets::{self, DryRun, Selection, Target};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How often a waiting delete looks again.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// What `--timeout=0` means upstream: a week.
const FOREVER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Arguments of `kubectl delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// `TYPE NAME...`, `TYPE/NAME...`, or `TYPE` with -l / --all.
    pub args: Vec<String>,
    /// Files or directories with the resources to delete ('-' for stdin).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Process the directory used in -f recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Delete all resources of the given types in the namespace.
    #[arg(long)]
    pub all: bool,
    /// "background", "foreground" or "orphan" (true = background, false = orphan).
    #[arg(long, default_value = "background", num_args = 0..=1, require_equals = true, default_missing_value = "background")]
    pub cascade: String,
    /// Seconds given to the resource to terminate gracefully; negative uses the object's
    /// default, 0 only with --force.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub grace_period: i64,
    /// Signal resources for immediate shutdown (same as --grace-period=1).
    #[arg(long)]
    pub now: bool,
    /// With --grace-period=0, remove the resources from the API at once without waiting for
    /// their termination.
    #[arg(long)]
    pub force: bool,
    /// Wait for the resources to be gone before returning.
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub wait: bool,
    /// Treat "resource not found" as a successful delete.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// How long to wait before giving up (e.g. 30s, 5m); 0 waits a week, as upstream.
    #[arg(long, default_value = "0s")]
    pub timeout: String,
    /// Output mode: only "name" is supported, as upstream.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Must be "none", "server", or "client".
    #[arg(long, value_enum, default_value = "none", num_args = 0..=1, require_equals = true, default_missing_value = "client")]
    pub dry_run: DryRun,
}

/// The body of the DELETE requests, from the flags. Pure.
pub fn delete_options(args: &DeleteArgs) -> Result<Value, CliError> {
    if args.now && args.grace_period >= 0 {
        return Err(CliError::usage(
            "--now and --grace-period cannot be specified together",
        ));
    }
    let policy = match args.cascade.as_str() {
        "background" | "true" => "Background",
        "foreground" => "Foreground",
        "orphan" | "false" => "Orphan",
        other => {
            return Err(CliError::usage(format!(
                "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
            )))
        }
    };
    let grace = effective_grace_period(args);
    let mut options =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
    if let Some(grace) = grace {
        options["gracePeriodSeconds"] = json!(grace);
    }
    if args.dry_run == DryRun::Server {
        options["dryRun"] = json!(["All"]);
    }
    Ok(options)
}

/// Upstream turns `--now` into 1 second and `--grace-period=0` without `--force` into 1 second
/// (to avoid accidental data loss); `--force` alone means 0.
fn effective_grace_period(args: &DeleteArgs) -> Option<i64> {
    if args.now {
        return Some(1);
    }
    match (args.grace_period, args.force) {
        (0, false) => Some(1),
        (g, _) if g >= 0 => Some(g),
        (_, true) => Some(0),
        _ => None,
    }
}

/// `30s`, `5m`, `1h30m`, `500ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let invalid = || {
        CliError::usage(format!(
            "invalid argument \"{text}\" for \"--timeout\" flag: time: invalid duration \"{text}\""
        ))
    };
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(invalid)?;
        let number: f64 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => number / 1e9,
            "us" | "µs" => number / 1e6,
            "ms" => number / 1e3,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return Err(invalid()),
        };
        total += Duration::from_secs_f64(seconds);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

pub async fn run(flags: &GlobalFlags, args: DeleteArgs) -> Result<(), CliError> {
    let options = delete_options(&args)?;
    let timeout = match parse_duration(&args.timeout)? {
        Duration::ZERO => FOREVER,
        t => t,
    };
    if let Some(output) = &args.output {
        if output != "name" {
            return Err(CliError::usage(format!(
                "unexpected -o output mode: {output}. We only support '-o name'"
            )));
        }
    }
    if args.all && args.selector.is_some() {
        return Err(CliError::usage(
            "cannot set --all and --selector at the same time",
        ));
    }
    let force_now = effective_grace_period(&args) == Some(0);
    if force_now {
        eprintln!("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: args.args.clone(),
        filenames: args.filenames.clone(),
        recursive: args.recursive,
        selector: args.selector.clone(),
        all: args.all,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    if resolved.targets.is_empty() && errors.is_empty() {
        println!("No resources found");
        return Ok(());
    }
    let mut deleted: Vec<(&Target, Option<String>)> = Vec::new();
    for target in &resolved.targets {
        let outcome = if args.dry_run == DryRun::Client {
            Ok(None)
        } else {
            delete_one(&session, target, &options).await
        };
        match outcome {
            Ok(uid) => {
                let word = if force_now {
                    "force deleted"
                } else {
                    "deleted"
                };
                match args.output.as_deref() {
                    Some(_) => println!("{}", target.display()),
                    None => println!(
                        "{} \"{}\" {word}{}",
                        target.rtype.qualified_kind(),
                        target.name,
                        args.dry_run.suffix()
                    ),
                }
                deleted.push((target, uid));
            }
            Err(e) if e.is_not_found() && args.ignore_not_found => {}
            Err(e) => errors.push(crate::remote::with_source(e, "deleting", &target.source)),
        }
    }
    if args.wait && args.dry_run == DryRun::None && !force_now {
        let deadline = Instant::now() + timeout;
        for (target, uid) in deleted {
            if let Err(e) = wait_gone(&session, target, uid.as_deref(), deadline).await {
                errors.push(e);
            }
        }
    }
    finish(errors)
}

/// Sends one DELETE; returns the UID of what was deleted when the server says.
async fn delete_one(
    session: &Session,
    target: &Target,
    options: &Value,
) -> Result<Option<String>, CliError> {
    let answer = target
        .endpoint(session)
        .delete(&target.name, options)
        .await?;
    Ok(answer
        .pointer("/metadata/uid")
        .or_else(|| answer.pointer("/details/uid"))
        .and_then(Value::as_str)
        .map(str::to_owned))
}

async fn wait_gone(
    session: &Session,
    target: &Target,
    uid: Option<&str>,
    deadline: Instant,
) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    loop {
        match endpoint.get_opt(&target.name).await? {
            None => return Ok(()),
            Some(object) => {
                let live_uid = object.pointer("/metadata/uid").and_then(Value::as_str);
                if uid.is_some() && live_uid != uid {
                    return Ok(());
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(CliError::usage(format!(
                "timed out waiting for the condition on {}/{}",
                target.rtype.qualified_plural(),
                target.name
            )));
        }
        tokio::time::sleep(WAIT_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: DeleteArgs,
    }

    fn parse(line: &[&str]) -> DeleteArgs {
        let mut all = vec!["delete"];
        all.extend_from_slice(line);
        Wrapper::try_parse_from(all).unwrap().args
    }

    #[test]
    fn delete_options_follow_the_flags() {
        let cases: &[(&[&str], Value)] = &[
            (
                &["pods", "a"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
            ),
            (
                &["pods", "a", "--cascade=foreground"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}),
            ),
            (
                &["pods", "a", "--cascade=false", "--grace-period=30"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan", "gracePeriodSeconds": 30}),
            ),
            (
                &["pods", "a", "--now"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background", "gracePeriodSeconds": 1}),
            ),
            (
                &["pods", "a", "--grace-period=0"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background", "gracePeriodSeconds": 1}),
            ),
            (
                &["pods", "a", "--grace-period=0", "--force"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background", "gracePeriodSeconds": 0}),
            ),
            (
                &["pods", "a", "--force"],
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background", "gracePeriodSeconds": 0}),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(&delete_options(&parse(line)).unwrap(), want, "{line:?}");
        }
        assert!(delete_options(&parse(&["pods", "a", "--cascade=sometimes"])).is_err());
        assert!(delete_options(&parse(&["pods", "a", "--now", "--grace-period=3"])).is_err());
        assert!(!parse(&["pods", "a", "--wait=false"]).wait);
        assert!(parse(&["pods", "a"]).wait);
    }

    #[test]
    fn durations_parse_like_go() {
        let cases = [
            ("0s", 0.0),
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h30m", 5400.0),
            ("500ms", 0.5),
            ("12", 12.0),
        ];
        for (text, seconds) in cases {
            assert_eq!(
                parse_duration(text).unwrap().as_secs_f64(),
                seconds,
                "{text}"
            );
        }
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
