//! Pod volumes on the node's disk under `<root-dir>/pods/<uid>/volumes/`: emptyDir
//! directories, secret and configMap files (one per key, `items`, `defaultMode`, rewritten
//! when the object changes), and hostPath. The runtime bind-mounts them into containers.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Container, KeyToPath, Pod, Secret};
use tinykube_cri_proto::v1 as cri;

use crate::error::{KubeletError, Result};

/// The directory of a pod's data on the node.
pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join("pods").join(uid)
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    if std::fs::read(path).ok().as_deref() == Some(data) {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
        return Ok(());
    }
    let tmp = path.with_extension("tinykube-tmp");
    std::fs::write(&tmp, data).map_err(|e| KubeletError::io(tmp.display(), e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
        .map_err(|e| KubeletError::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| KubeletError::io(path.display(), e))
}

/// Writes `files` (relative path -> content, mode) into `dir`, removing files not listed.
fn project(dir: &Path, files: &BTreeMap<String, (Vec<u8>, u32)>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| KubeletError::io(dir.display(), e))?;
    for (rel, (data, mode)) in files {
        if rel.split('/').any(|p| p == ".." || p.is_empty()) {
            continue;
        }
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| KubeletError::io(p.display(), e))?;
        }
        write_atomic(&path, data, *mode)?;
    }
    // Remove keys that went away (top level only; nested item paths are rare).
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !files
                .keys()
                .any(|k| k == &name || k.starts_with(&format!("{name}/")))
            {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
    Ok(())
}

fn select(
    data: BTreeMap<String, Vec<u8>>,
    items: &Option<Vec<KeyToPath>>,
    default_mode: u32,
) -> std::result::Result<BTreeMap<String, (Vec<u8>, u32)>, String> {
    match items {
        None => Ok(data
            .into_iter()
            .map(|(k, v)| (k, (v, default_mode)))
            .collect()),
        Some(items) => {
            let mut out = BTreeMap::new();
            for i in items {
                let v = data
                    .get(&i.key)
                    .ok_or_else(|| format!("key {:?} not found", i.key))?;
                let mode = i.mode.map(|m| m as u32).unwrap_or(default_mode);
                out.insert(i.path.clone(), (v.clone(), mode));
            }
            Ok(out)
        }
    }
}

fn secret_data(s: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut d: BTreeMap<String, Vec<u8>> = s
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in s.string_data.clone().unwrap_or_default() {
        d.insert(k, v.into_bytes());
    }
    d
}

fn config_map_data(c: &ConfigMap) -> BTreeMap<String, Vec<u8>> {
    let mut d: BTreeMap<String, Vec<u8>> = c
        .binary_data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in c.data.clone().unwrap_or_default() {
        d.insert(k, v.into_bytes());
    }
    d
}

/// Creates or refreshes every volume of `pod`; returns the host path of each volume by name.
/// Secrets and config maps come from `secrets` / `config_maps` (fetched by the caller).
pub fn setup_volumes(
    root: &Path,
    pod: &Pod,
    secrets: &HashMap<String, Secret>,
    config_maps: &HashMap<String, ConfigMap>,
) -> Result<HashMap<String, PathBuf>> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let key = crate::pod_key(pod);
    let base = pod_dir(root, &uid).join("volumes");
    let mut out = HashMap::new();
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
    {
        let path = if v.empty_dir.is_some() {
            let p = base.join("kubernetes.io~empty-dir").join(&v.name);
            std::fs::create_dir_all(&p).map_err(|e| KubeletError::io(p.display(), e))?;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777));
            p
        } else if let Some(h) = &v.host_path {
            let p = PathBuf::from(&h.path);
            match h.type_.as_deref().unwrap_or("") {
                "DirectoryOrCreate" => {
                    std::fs::create_dir_all(&p).map_err(|e| KubeletError::io(p.display(), e))?;
                }
                "FileOrCreate" if !p.exists() => {
                    std::fs::write(&p, b"").map_err(|e| KubeletError::io(p.display(), e))?;
                }
                "Directory" if !p.is_dir() => {
                    return Err(KubeletError::pod(
                        &key,
                        format!("hostPath {} is not a directory", h.path),
                    ))
                }
                "File" if !p.is_file() => {
                    return Err(KubeletError::pod(
                        &key,
                        format!("hostPath {} is not a file", h.path),
                    ))
                }
                _ => {}
            }
            p
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let mode = s.default_mode.unwrap_or(0o644) as u32;
            let p = base.join("kubernetes.io~secret").join(&v.name);
            let data = match secrets.get(&name) {
                Some(obj) => secret_data(obj),
                None if s.optional == Some(true) => BTreeMap::new(),
                None => {
                    return Err(KubeletError::pod(
                        &key,
                        format!("secret \"{name}\" not found"),
                    ))
                }
            };
            let files = select(data, &s.items, mode)
                .map_err(|e| KubeletError::pod(&key, format!("secret {name}: {e}")))?;
            project(&p, &files)?;
            p
        } else if let Some(c) = &v.config_map {
            let name = c.name.clone();
            let mode = c.default_mode.unwrap_or(0o644) as u32;
            let p = base.join("kubernetes.io~configmap").join(&v.name);
            let data = match config_maps.get(&name) {
                Some(obj) => config_map_data(obj),
                None if c.optional == Some(true) => BTreeMap::new(),
                None => {
                    return Err(KubeletError::pod(
                        &key,
                        format!("configmap \"{name}\" not found"),
                    ))
                }
            };
            let files = select(data, &c.items, mode)
                .map_err(|e| KubeletError::pod(&key, format!("configmap {name}: {e}")))?;
            project(&p, &files)?;
            p
        } else {
            // Unsupported volume types get an empty directory, so the pod still starts.
            let p = base.join("kubernetes.io~unsupported").join(&v.name);
            std::fs::create_dir_all(&p).map_err(|e| KubeletError::io(p.display(), e))?;
            p
        };
        out.insert(v.name.clone(), path);
    }
    Ok(out)
}

/// CRI mounts of container `c`: secret and configMap volumes are always read-only (as
/// upstream mounts them), others as `readOnly` says.
pub fn container_mounts(
    pod: &Pod,
    c: &Container,
    paths: &HashMap<String, PathBuf>,
) -> Vec<cri::Mount> {
    let always_ro: Vec<&str> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter(|v| v.secret.is_some() || v.config_map.is_some())
        .map(|v| v.name.as_str())
        .collect();
    c.volume_mounts
        .iter()
        .flatten()
        .filter_map(|m| {
            let mut host = paths.get(&m.name)?.clone();
            if let Some(sub) = m
                .sub_path
                .as_deref()
                .filter(|s| !s.is_empty() && !s.contains(".."))
            {
                host = host.join(sub);
                if !host.exists() {
                    let _ = std::fs::create_dir_all(&host);
                }
            }
            Some(cri::Mount {
                container_path: m.mount_path.clone(),
                host_path: host.display().to_string(),
                readonly: m.read_only.unwrap_or(false) || always_ro.contains(&m.name.as_str()),
                ..Default::default()
            })
        })
        .collect()
}

/// Removes a pod's directory (volumes included) once its containers are gone.
pub fn remove_pod_dir(root: &Path, uid: &str) {
    let _ = std::fs::remove_dir_all(pod_dir(root, uid));
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ConfigMapVolumeSource, EmptyDirVolumeSource, PodSpec, SecretVolumeSource, Volume,
        VolumeMount,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use k8s_openapi::ByteString;

    #[test]
    fn secret_and_configmap_files() {
        let dir = tempfile::tempdir().unwrap();
        let pod = Pod {
            metadata: ObjectMeta {
                uid: Some("u".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                volumes: Some(vec![
                    Volume {
                        name: "e".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    },
                    Volume {
                        name: "s".into(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some("s".into()),
                            default_mode: Some(0o400),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "c".into(),
                        config_map: Some(ConfigMapVolumeSource {
                            name: "c".into(),
                            items: Some(vec![KeyToPath {
                                key: "a".into(),
                                path: "sub/x".into(),
                                mode: None,
                            }]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let secrets = HashMap::from([(
            "s".to_string(),
            Secret {
                data: Some(BTreeMap::from([("k".into(), ByteString(b"v".to_vec()))])),
                ..Default::default()
            },
        )]);
        let mut cms = HashMap::from([(
            "c".to_string(),
            ConfigMap {
                data: Some(BTreeMap::from([
                    ("a".into(), "1".into()),
                    ("b".into(), "2".into()),
                ])),
                ..Default::default()
            },
        )]);
        let paths = setup_volumes(dir.path(), &pod, &secrets, &cms).unwrap();
        let k = paths["s"].join("k");
        assert_eq!(std::fs::read(&k).unwrap(), b"v");
        assert_eq!(
            std::fs::metadata(&k).unwrap().permissions().mode() & 0o777,
            0o400
        );
        assert_eq!(
            std::fs::read_to_string(paths["c"].join("sub/x")).unwrap(),
            "1"
        );
        assert!(!paths["c"].join("b").exists());
        cms.get_mut("c")
            .unwrap()
            .data
            .as_mut()
            .unwrap()
            .insert("a".into(), "9".into());
        setup_volumes(dir.path(), &pod, &secrets, &cms).unwrap();
        assert_eq!(
            std::fs::read_to_string(paths["c"].join("sub/x")).unwrap(),
            "9"
        );
        let c = Container {
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "s".into(),
                    mount_path: "/s".into(),
                    ..Default::default()
                },
                VolumeMount {
                    name: "e".into(),
                    mount_path: "/e".into(),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let m = container_mounts(&pod, &c, &paths);
        assert!(m[0].readonly && !m[1].readonly);
        assert!(setup_volumes(dir.path(), &pod, &HashMap::new(), &cms).is_err());
    }
}
