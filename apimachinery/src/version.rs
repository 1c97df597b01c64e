//! The version every tinykube binary reports (upstream `k8s.io/apimachinery/pkg/version.Info`):
//! the Kubernetes release whose API we serve, with our own release as its build metadata.

use serde_json::{json, Value};

/// The Kubernetes minor release whose API tinykube implements.
pub const KUBERNETES_MINOR: &str = "33";

/// `v1.33.0-tinykube.<our version>`, what `kubectl version` shows for client and server.
pub fn git_version() -> String {
    format!(
        "v1.{KUBERNETES_MINOR}.0-tinykube.{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Go's name of this machine's architecture (`GOARCH`), as `platform` spells it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// The `version.Info` object of `/version` and of `kubectl version`'s client.
pub fn info() -> Value {
    json!({
        "major": "1",
        "minor": KUBERNETES_MINOR,
        "gitVersion": git_version(),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_has_upstreams_shape() {
        let info = info();
        assert_eq!(info["major"], "1");
        assert_eq!(info["minor"], KUBERNETES_MINOR);
        let git = info["gitVersion"].as_str().unwrap();
        assert!(git.starts_with("v1.33.0-tinykube."), "{git}");
        let platform = info["platform"].as_str().unwrap();
        // Go's names: amd64, not Rust's x86_64.
        assert!(
            platform.starts_with("linux/") && !platform.contains("x86_64"),
            "{platform}"
        );
        assert_eq!(info.as_object().unwrap().len(), 9);
    }
}
