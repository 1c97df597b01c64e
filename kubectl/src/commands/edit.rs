//! `kubectl edit TYPE NAME`: the live object as YAML in `$KUBE_EDITOR`, `$EDITOR` or `vi`, then
//! a two-way strategic merge patch from what was shown to what was saved, as upstream.
//!
//! Saving the file unchanged cancels ("Edit cancelled, no changes made."); a file that does not
//! parse, or that the server refuses, is reopened with the reason in its header comment; saving
//! that same content again gives up with "Edit cancelled, no valid changes were saved.".

use super::apply::{self, LAST_APPLIED};
use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::manifest::{self, Object};
use crate::printers;
use crate::remote::PatchType;
use crate::session::Session;
use crate::targets::{self, Selection, Target};
use serde_json::Value;
use std::path::{Path, PathBuf};
use tinykube_apimachinery::patch_meta;
use tinykube_apimachinery::strategic_merge;

/// Arguments of `kubectl edit`.
#[derive(Debug, clap::Args)]
pub struct EditArgs {
    /// `TYPE NAME...` or `TYPE/NAME...`.
    pub args: Vec<String>,
    /// Files naming the resources to edit.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filenames: Vec<String>,
    /// Selector (label query) to filter on.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit. If an error occurs while saving this file will be\n# reopened with the relevant failures.\n#\n";

/// Why the file is reopened: a headline and optional detail lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub head: String,
    pub other: Vec<String>,
}

/// The header comment of the edit buffer, with the reasons of a reopened edit.
pub fn header(reasons: &[Reason]) -> String {
    let mut out = HEADER.to_owned();
    let hash = |text: &str| text.replace('\n', "\n# ");
    for reason in reasons {
        if reason.other.is_empty() {
            out.push_str(&format!("# {}\n", hash(&reason.head)));
        } else {
            out.push_str(&format!("# {}:\n", hash(&reason.head)));
        }
        for other in &reason.other {
            out.push_str(&format!("# * {}\n", hash(other)));
        }
        out.push_str("#\n");
    }
    out
}

/// The lines that are not comments (upstream's `ManualStrip`).
pub fn strip_comments(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect()
}

/// The editor command line as upstream builds it: `$KUBE_EDITOR`, else `$EDITOR`, else `vi`;
/// split on spaces, or run through `sh -c` when it has quotes or backslashes. Pure.
pub fn editor_command(kube_editor: Option<&str>, editor: Option<&str>, file: &Path) -> Vec<String> {
    let chosen = [kube_editor, editor]
        .into_iter()
        .flatten()
        .find(|e| !e.is_empty())
        .unwrap_or("vi");
    let path = file.to_string_lossy().into_owned();
    if !chosen.contains(' ') {
        return vec![chosen.to_owned(), path];
    }
    if !chosen.contains(['"', '\'', '\\']) {
        let mut args: Vec<String> = chosen.split(' ').map(str::to_owned).collect();
        args.push(path);
        return args;
    }
    vec![
        "/bin/bash".into(),
        "-c".into(),
        format!("{chosen} {path:?}"),
    ]
}

/// What one round of editing decided. Pure.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Nothing changed: cancel quietly.
    Unchanged,
    /// Only comments or blank lines are left: cancel.
    Empty,
    /// The same invalid content was saved again: give up.
    GiveUp,
    /// The file does not parse (or changes what may not change): reopen with this reason.
    Reopen(Reason),
    /// The object as edited.
    Edited(Object),
}

pub fn judge(
    shown: &str,
    edited: &str,
    previous_error: Option<&str>,
    original: &Object,
) -> Verdict {
    if let Some(previous) = previous_error {
        if strip_comments(previous) == strip_comments(edited) {
            return Verdict::GiveUp;
        }
    }
    if strip_comments(shown) == strip_comments(edited) {
        return Verdict::Unchanged;
    }
    let content = strip_comments(edited);
    if content.trim().is_empty() {
        return Verdict::Empty;
    }
    let object = match manifest::parse_yaml(&content) {
        Ok(Value::Object(object)) => object,
        Ok(_) => {
            return Verdict::Reopen(Reason {
                head: "The edited file had a syntax error: the file does not hold an object".into(),
                other: Vec::new(),
            })
        }
        Err(e) => {
            return Verdict::Reopen(Reason {
                head: format!("The edited file had a syntax error: {e}"),
                other: Vec::new(),
            })
        }
    };
    let identity = |o: &Object| {
        (
            o.get("apiVersion").cloned(),
            o.get("kind").cloned(),
            o.get("metadata").and_then(|m| m.get("name")).cloned(),
        )
    };
    if identity(&object) != identity(original) {
        return Verdict::Reopen(Reason {
            head: "At least one of apiVersion, kind and name was changed".into(),
            other: Vec::new(),
        });
    }
    Verdict::Edited(object)
}

pub async fn run(flags: &GlobalFlags, args: EditArgs) -> Result<(), CliError> {
    let (session, catalog) = targets::connect(flags).await?;
    let selection = Selection {
        args: args.args.clone(),
        filenames: args.filenames.clone(),
        recursive: false,
        selector: args.selector.clone(),
        all: false,
    };
    let resolved = targets::resolve(&session, &catalog, &selection).await?;
    let mut errors = resolved.errors;
    for target in &resolved.targets {
        if let Err(e) = edit_one(&session, target).await {
            errors.push(e);
        }
    }
    apply::finish(errors)
}

fn temp_file() -> Result<(PathBuf, std::fs::File), CliError> {
    let dir = std::env::temp_dir();
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(
            "kubectl-edit-{}-{nanos}-{attempt}.yaml",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CliError::usage(format!("creating a temporary file: {e}"))),
        }
    }
    Err(CliError::usage("could not create a temporary file to edit"))
}

fn launch_editor(path: &Path) -> Result<String, CliError> {
    let kube_editor = std::env::var("KUBE_EDITOR").ok();
    let editor = std::env::var("EDITOR").ok();
    let command = editor_command(kube_editor.as_deref(), editor.as_deref(), path);
    let status = std::process::Command::new(&command[0])
        .args(&command[1..])
        .status()
        .map_err(|e| {
            CliError::usage(format!("unable to launch the editor {:?}: {e}", command[0]))
        })?;
    if !status.success() {
        return Err(CliError::usage(format!(
            "there was a problem with the editor {:?}",
            command[0]
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("reading {}: {e}", path.display())))
}

/// Removes the edit buffer when the edit ends, however it ends.
struct Buffer(PathBuf);

impl Drop for Buffer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn edit_one(session: &Session, target: &Target) -> Result<(), CliError> {
    let endpoint = target.endpoint(session);
    let mut live = endpoint.get(&target.name).await?;
    printers::hide_managed_fields(&mut live);
    let Value::Object(original) = live.clone() else {
        return Err(CliError::usage(
            "the server answered with something not an object",
        ));
    };
    let shown = printers::yaml::to_yaml(&live);
    let (path, _) = temp_file()?;
    let buffer = Buffer(path);
    let mut contents = format!("{}{shown}", header(&[]));
    let mut previous_error: Option<String> = None;
    loop {
        std::fs::write(&buffer.0, &contents)
            .map_err(|e| CliError::usage(format!("writing {}: {e}", buffer.0.display())))?;
        let edited = launch_editor(&buffer.0)?;
        let mut edited_object = match judge(&shown, &edited, previous_error.as_deref(), &original) {
            Verdict::Unchanged => {
                eprintln!("Edit cancelled, no changes made.");
                return Ok(());
            }
            Verdict::Empty => {
                eprintln!("Edit cancelled, saved file was empty.");
                return Ok(());
            }
            Verdict::GiveUp => {
                return Err(CliError::usage(
                    "Edit cancelled, no valid changes were saved.",
                ))
            }
            Verdict::Reopen(reason) => {
                contents = format!("{}{}", header(&[reason]), strip_comments(&edited));
                previous_error = Some(edited);
                continue;
            }
            Verdict::Edited(object) => object,
        };
        // Upstream keeps an existing last-applied annotation in step with the edit.
        let has_last_applied = edited_object
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(LAST_APPLIED))
            .is_some();
        if has_last_applied {
            edited_object = apply::with_last_applied(&edited_object);
        }
        let schema = patch_meta::for_kind(&target.rtype.group, &target.rtype.kind);
        let patch = strategic_merge::two_way(&original, &edited_object, schema)
            .map_err(|e| CliError::usage(e.to_string()))?;
        if patch.is_empty() {
            println!("{} skipped", target.display());
            return Ok(());
        }
        match endpoint
            .patch(
                &target.name,
                None,
                PatchType::Strategic,
                &Value::Object(patch),
                &[("fieldManager", "kubectl-edit")],
            )
            .await
        {
            Ok(_) => {
                println!("{} edited", target.display());
                return Ok(());
            }
            Err(e) => {
                let reason = match &e {
                    CliError::Plain(detail) => Reason {
                        head: format!(
                            "{} {:?} was not valid",
                            target.rtype.qualified_plural(),
                            target.name
                        ),
                        other: vec![detail.clone()],
                    },
                    other => Reason {
                        head: other.to_string(),
                        other: Vec::new(),
                    },
                };
                contents = format!("{}{}", header(&[reason]), strip_comments(&edited));
                previous_error = Some(edited);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn original() -> Object {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
            .as_object()
            .unwrap()
            .clone()
    }

    const SHOWN: &str =
        "apiVersion: v1\ndata:\n  a: \"1\"\nkind: ConfigMap\nmetadata:\n  name: c\n";

    #[test]
    fn rounds_are_judged_like_upstream() {
        let with_header = format!("{}{SHOWN}", header(&[]));
        assert_eq!(
            judge(SHOWN, &with_header, None, &original()),
            Verdict::Unchanged
        );
        assert_eq!(
            judge(SHOWN, "# only comments\n\n", None, &original()),
            Verdict::Empty
        );
        let changed = SHOWN.replace("\"1\"", "\"2\"");
        match judge(SHOWN, &changed, None, &original()) {
            Verdict::Edited(object) => assert_eq!(object["data"]["a"], "2"),
            other => panic!("{other:?}"),
        }
        let broken = SHOWN.replace("  name: c", "  name: c\n   x: y: z");
        match judge(SHOWN, &broken, None, &original()) {
            Verdict::Reopen(reason) => assert!(
                reason.head.starts_with(
                    "The edited file had a syntax error: error converting YAML to JSON: yaml: line"
                ),
                "{}",
                reason.head
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(SHOWN, &broken, Some(&broken), &original()),
            Verdict::GiveUp
        );
        let renamed = SHOWN.replace("name: c", "name: d");
        assert!(matches!(
            judge(SHOWN, &renamed, None, &original()),
            Verdict::Reopen(_)
        ));
    }

    #[test]
    fn headers_carry_the_reasons() {
        let text = header(&[Reason {
            head: "configmaps \"c\" was not valid".into(),
            other: vec!["The ConfigMap \"c\" is invalid: data: bad".into()],
        }]);
        assert!(text.ends_with("#\n# configmaps \"c\" was not valid:\n# * The ConfigMap \"c\" is invalid: data: bad\n#\n"));
    }

    #[test]
    fn editors_are_chosen_like_upstream() {
        let file = Path::new("/tmp/x.yaml");
        assert_eq!(editor_command(None, None, file), ["vi", "/tmp/x.yaml"]);
        assert_eq!(
            editor_command(Some(""), Some("nano"), file),
            ["nano", "/tmp/x.yaml"]
        );
        assert_eq!(
            editor_command(Some("code --wait"), Some("nano"), file),
            ["code", "--wait", "/tmp/x.yaml"]
        );
        assert_eq!(
            editor_command(Some("sed -i 's/a/b/'"), None, file),
            ["/bin/bash", "-c", "sed -i 's/a/b/' \"/tmp/x.yaml\""]
        );
    }
}
