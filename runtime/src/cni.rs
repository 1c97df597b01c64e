//! CNI: loads the network configuration from the conf dir and calls the plugins exactly as
//! the CNI spec says (config on stdin, `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`,
//! `CNI_IFNAME`, `CNI_ARGS`, `CNI_PATH` in the environment).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::error::{Result, RuntimeError};

/// How long one plugin call may take.
pub const PLUGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A port mapping in the `portMappings` capability format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMapping {
    #[serde(rename = "hostPort")]
    pub host_port: i32,
    #[serde(rename = "containerPort")]
    pub container_port: i32,
    pub protocol: String,
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

/// Loads the first network config (lexically) from `dir`: a `.conflist`, or a single-plugin
/// `.conf`/`.json` turned into a list. Returns the list as JSON.
pub fn load_config(dir: &Path) -> Result<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| RuntimeError::Failed(format!("cni config dir {}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "conflist" || e == "conf" || e == "json")
        })
        .collect();
    files.sort();
    let file = files.first().ok_or_else(|| {
        RuntimeError::Failed(format!("no CNI network config in {}", dir.display()))
    })?;
    let data = std::fs::read(file)
        .map_err(|e| RuntimeError::Failed(format!("read {}: {e}", file.display())))?;
    let v: Value = serde_json::from_slice(&data)
        .map_err(|e| RuntimeError::Failed(format!("{}: {e}", file.display())))?;
    normalize_config(v).map_err(|e| RuntimeError::Failed(format!("{}: {e}", file.display())))
}

/// Turns a `.conf` (one plugin) into a conflist; checks a conflist has name and plugins.
pub fn normalize_config(v: Value) -> std::result::Result<Value, String> {
    if v.get("plugins").is_some() {
        if v["plugins"].as_array().is_none_or(|p| p.is_empty()) {
            return Err("conflist has no plugins".into());
        }
        if v["name"].as_str().is_none() {
            return Err("conflist has no name".into());
        }
        return Ok(v);
    }
    let name = v["name"].as_str().ok_or("config has no name")?.to_string();
    let version = v["cniVersion"].as_str().unwrap_or("0.4.0").to_string();
    Ok(json!({"cniVersion": version, "name": name, "plugins": [v]}))
}

/// The stdin config of one plugin of a list: network name and version injected, the
/// `portMappings` capability as `runtimeConfig`, the previous result as `prevResult`.
pub fn plugin_config(
    list: &Value,
    plugin: &Value,
    prev: Option<&Value>,
    ports: &[PortMapping],
) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = list["name"].clone();
    conf["cniVersion"] = list["cniVersion"].clone();
    if plugin["capabilities"]["portMappings"].as_bool() == Some(true) {
        conf["runtimeConfig"] = json!({ "portMappings": ports });
    }
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    conf
}

/// The first IP of a CNI result, without prefix length.
pub fn result_ip(result: &Value) -> Option<String> {
    let addr = result["ips"].as_array()?.first()?["address"].as_str()?;
    Some(addr.split('/').next()?.to_string())
}

/// Parameters of one sandbox's CNI calls.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    pub bin_dir: &'a Path,
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub ifname: &'a str,
    /// `K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;...`
    pub args: String,
    pub ports: &'a [PortMapping],
}

async fn exec_plugin(call: &Call<'_>, command: &'static str, conf: &Value) -> Result<Value> {
    let ty = conf["type"].as_str().unwrap_or("").to_string();
    let err = |reason: String| RuntimeError::Cni {
        command,
        id: call.container_id.to_string(),
        reason,
    };
    if ty.is_empty() || ty.contains('/') {
        return Err(err(format!("bad plugin type {ty:?}")));
    }
    let bin = call.bin_dir.join(&ty);
    let mut child = tokio::process::Command::new(&bin)
        .env_clear()
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", call.container_id)
        .env("CNI_NETNS", call.netns)
        .env("CNI_IFNAME", call.ifname)
        .env("CNI_ARGS", &call.args)
        .env("CNI_PATH", call.bin_dir)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("run plugin {}: {e}", bin.display())))?;
    let input = serde_json::to_vec(conf).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&input).await;
    }
    let out = tokio::time::timeout(PLUGIN_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| err(format!("plugin {ty} timed out after {PLUGIN_TIMEOUT:?}")))?
        .map_err(|e| err(format!("plugin {ty}: {e}")))?;
    if !out.status.success() {
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let msg = v["msg"].as_str().map(str::to_string).unwrap_or_else(|| {
            format!(
                "{} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        return Err(err(format!("plugin {ty} failed: {}", msg.trim())));
    }
    if command == "ADD" {
        serde_json::from_slice(&out.stdout).map_err(|e| err(format!("plugin {ty} result: {e}")))
    } else {
        Ok(Value::Null)
    }
}

/// `ADD` through every plugin of the list; returns the final result.
pub async fn add(list: &Value, call: &Call<'_>) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for plugin in list["plugins"].as_array().into_iter().flatten() {
        let conf = plugin_config(list, plugin, prev.as_ref(), call.ports);
        prev = Some(exec_plugin(call, "ADD", &conf).await?);
    }
    prev.ok_or_else(|| RuntimeError::Cni {
        command: "ADD",
        id: call.container_id.to_string(),
        reason: "no plugins".into(),
    })
}

/// `DEL` through the plugins in reverse order, with the cached result as `prevResult`.
/// Every plugin is tried; the first error is returned.
pub async fn del(list: &Value, call: &Call<'_>, cached: Option<&Value>) -> Result<()> {
    let mut first = None;
    for plugin in list["plugins"].as_array().into_iter().flatten().rev() {
        let conf = plugin_config(list, plugin, cached, call.ports);
        if let Err(e) = exec_plugin(call, "DEL", &conf).await {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_conf_becomes_a_list() {
        let v = normalize_config(json!({"cniVersion": "1.0.0", "name": "n", "type": "bridge"}))
            .unwrap();
        assert_eq!(v["plugins"][0]["type"], "bridge");
        assert_eq!(v["name"], "n");
        assert!(normalize_config(json!({"type": "bridge"})).is_err());
        assert!(normalize_config(json!({"name": "x", "plugins": []})).is_err());
    }

    #[test]
    fn plugin_config_injects_runtime_config() {
        let list = json!({"cniVersion": "1.0.0", "name": "pods", "plugins": [
            {"type": "bridge"}, {"type": "portmap", "capabilities": {"portMappings": true}}]});
        let ports = vec![PortMapping {
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: String::new(),
        }];
        let prev = json!({"ips": [{"address": "10.244.0.2/24"}]});
        let c = plugin_config(&list, &list["plugins"][1], Some(&prev), &ports);
        assert_eq!(c["name"], "pods");
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(c["prevResult"], prev);
        let b = plugin_config(&list, &list["plugins"][0], None, &ports);
        assert!(b.get("runtimeConfig").is_none() && b.get("prevResult").is_none());
        assert_eq!(result_ip(&prev).as_deref(), Some("10.244.0.2"));
    }
}
