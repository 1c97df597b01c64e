//! `kubectl version`: the client's version and, unless `--client`, the server's (`/version`),
//! as lines or as `-o json|yaml` with upstream's field names.

use crate::cli::GlobalFlags;
use crate::error::CliError;
use crate::gojson;
use crate::printers::yaml;
use crate::session::Session;
use serde_json::{Map, Value};

/// Arguments of `kubectl version`.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print the client version only.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub client: Option<bool>,
    /// One of 'yaml' or 'json'.
    #[arg(short = 'o', long)]
    pub output: Option<String>,
}

/// Our client's version, in the shape of upstream's `version.Info` (the server reports the
/// same, from the same function).
pub fn client_version() -> Value {
    tinykube_apimachinery::version::info()
}

/// The text upstream prints without `-o`.
pub fn render_text(client: &Value, server: Option<&Value>) -> String {
    let version = |v: &Value| {
        v.get("gitVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut out = format!("Client Version: {}\n", version(client));
    if let Some(server) = server {
        out.push_str(&format!("Server Version: {}\n", version(server)));
    }
    out
}

pub async fn run(flags: &GlobalFlags, args: VersionArgs) -> Result<(), CliError> {
    let format = match args.output.as_deref().map(|o| o.trim_start_matches('=')) {
        None | Some("") => None,
        Some(f @ ("json" | "yaml")) => Some(f.to_owned()),
        Some(_) => return Err(CliError::usage("--output must be 'yaml' or 'json'")),
    };
    let client = client_version();
    let mut document = Map::new();
    document.insert("clientVersion".into(), client.clone());
    let mut server = None;
    let mut failure = None;
    if !args.client.unwrap_or(false) {
        let session = Session::connect(flags).await?;
        match crate::commands::get::get_json(&session.client, "/version", "application/json").await
        {
            Ok(info) => {
                document.insert("serverVersion".into(), info.clone());
                server = Some(info);
            }
            Err(e) => failure = Some(e),
        }
    }
    let document = Value::Object(document);
    let text = match format.as_deref() {
        Some("json") => version_json(&client, server.as_ref()),
        // Upstream prints the YAML with `Println`, so a blank line follows.
        Some(_) => format!("{}\n", yaml::to_yaml(&document)),
        None => render_text(&client, server.as_ref()),
    };
    print!("{text}");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `version.Info`'s fields in its struct order, which upstream's `-o json` keeps.
const INFO_FIELDS: [&str; 9] = [
    "major",
    "minor",
    "gitVersion",
    "gitCommit",
    "gitTreeState",
    "buildDate",
    "goVersion",
    "compiler",
    "platform",
];

/// `-o json`: two-space indentation and struct field order, as upstream's `json.MarshalIndent`
/// of its `Version` struct.
pub fn version_json(client: &Value, server: Option<&Value>) -> String {
    let info = |value: &Value| {
        let fields: Vec<String> = INFO_FIELDS
            .iter()
            .map(|field| {
                let mut line = String::from("    ");
                gojson::write_string(&mut line, field);
                line.push_str(": ");
                let text = value
                    .get(*field)
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                gojson::write_string(&mut line, text);
                line
            })
            .collect();
        format!("{{\n{}\n  }}", fields.join(",\n"))
    };
    let mut sections = vec![format!("  \"clientVersion\": {}", info(client))];
    if let Some(server) = server {
        sections.push(format!("  \"serverVersion\": {}", info(server)));
    }
    format!("{{\n{}\n}}\n", sections.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_names_client_and_server() {
        let client = client_version();
        let server = json!({"gitVersion": "v1.33.0-tinykube.0.1.0"});
        let text = render_text(&client, Some(&server));
        assert!(
            text.starts_with("Client Version: v1.33.0-tinykube."),
            "{text}"
        );
        assert!(
            text.ends_with("Server Version: v1.33.0-tinykube.0.1.0\n"),
            "{text}"
        );
        assert_eq!(render_text(&client, None).lines().count(), 1);
    }

    #[test]
    fn json_keeps_upstream_field_order() {
        let server = json!({"major": "1", "minor": "33", "gitVersion": "v1", "compiler": "rustc"});
        let text = version_json(&client_version(), Some(&server));
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["serverVersion"]["gitVersion"], "v1");
        let major = text.find("\"major\"").unwrap();
        let platform = text.find("\"platform\"").unwrap();
        assert!(major < platform, "{text}");
        assert!(
            text.starts_with("{\n  \"clientVersion\": {\n    \"major\": \"1\","),
            "{text}"
        );
    }
}
