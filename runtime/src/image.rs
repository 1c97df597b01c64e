//! The content-addressed image store: image records keyed by config digest, layers unpacked
//! once per diff id (shared by every image and container using them), OCI whiteouts turned into
//! overlay whiteouts, import of docker-save and OCI-layout archives.
//!
//! ```text
//! <root>/images/<config-hex>.json   ImageRecord: config, layer diff ids, tags, digests
//! <root>/layers/<diffid-hex>/       an unpacked layer (overlayfs lower dir)
//! <root>/tmp/                       scratch space for imports and unpacking
//! ```
//!
//! The store keeps no state in memory: every call reads the disk, so an import done by the
//! CLI is seen by a running daemon at once.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek};
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{IoContext, Result, RuntimeError};
use crate::reference::{is_digest, Reference};

/// The parts of an OCI/Docker image config that decide how a container runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ExecConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// What the store knows about one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob: the image id.
    pub id: String,
    /// Layer diff ids (digests of the uncompressed layer tars), bottom first.
    pub layers: Vec<String>,
    /// Normalised tagged references.
    pub repo_tags: Vec<String>,
    /// `name@sha256:...` references of the manifest, for pulled images.
    pub repo_digests: Vec<String>,
    /// Total unpacked size of the layers in bytes (as a rough size).
    pub size: u64,
    /// Entrypoint/Cmd/Env/WorkingDir/User.
    pub config: ExecConfig,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ExecConfig>,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    diff_ids: Vec<String>,
}

/// The image store rooted at a directory.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    lock: Mutex<()>,
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// sha256 of bytes as `sha256:<hex>`.
pub fn sha256_bytes(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

impl ImageStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<ImageStore> {
        let root = root.into();
        for d in ["images", "layers", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx("create dir", &p)?;
        }
        Ok(ImageStore {
            root,
            lock: Mutex::new(()),
        })
    }

    /// Directory holding the unpacked layer `diff_id`.
    pub fn layer_dir(&self, diff_id: &str) -> PathBuf {
        self.root.join("layers").join(hex_of(diff_id))
    }

    /// A scratch directory on the store's filesystem.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Every image record.
    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        let dir = self.root.join("images");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read dir", &dir)? {
            let path = entry.ctx("read dir", &dir)?.path();
            if path.extension().is_some_and(|e| e == "json") {
                let data = fs::read(&path).ctx("read", &path)?;
                match serde_json::from_slice(&data) {
                    Ok(rec) => out.push(rec),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "skipping bad image record: {e}")
                    }
                }
            }
        }
        out.sort_by(|a: &ImageRecord, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Finds an image by id (`sha256:...`, or a unique hex prefix of ≥ 12), by reference or by
    /// repo digest. `None` when absent.
    pub fn find(&self, spec: &str) -> Result<Option<ImageRecord>> {
        let images = self.list()?;
        if is_digest(spec) {
            if let Some(i) = images.iter().find(|i| i.id == spec) {
                return Ok(Some(i.clone()));
            }
        }
        let hexish = spec.strip_prefix("sha256:").unwrap_or(spec);
        if hexish.len() >= 12 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
            let m: Vec<_> = images
                .iter()
                .filter(|i| hex_of(&i.id).starts_with(hexish))
                .collect();
            if m.len() == 1 {
                return Ok(Some(m[0].clone()));
            }
        }
        let Ok(r) = Reference::parse(spec) else {
            return Ok(None);
        };
        let full = r.full();
        Ok(images
            .into_iter()
            .find(|i| i.repo_tags.contains(&full) || i.repo_digests.contains(&full)))
    }

    fn write_record(&self, rec: &ImageRecord) -> Result<()> {
        let path = self
            .root
            .join("images")
            .join(format!("{}.json", hex_of(&rec.id)));
        let tmp = path.with_extension("json.tmp");
        let data =
            serde_json::to_vec_pretty(rec).map_err(|e| RuntimeError::Failed(e.to_string()))?;
        fs::write(&tmp, data).ctx("write", &tmp)?;
        fs::rename(&tmp, &path).ctx("rename", &path)
    }

    /// Records an image whose layers are already unpacked; moves `tags` to it from any other
    /// image (a tag names one image).
    pub fn add_image(
        &self,
        config_json: &[u8],
        tags: &[String],
        repo_digests: &[String],
    ) -> Result<ImageRecord> {
        let id = sha256_bytes(config_json);
        let cfg: ConfigFile = serde_json::from_slice(config_json).map_err(|e| {
            RuntimeError::InvalidArgument(format!("image config {id} is not valid: {e}"))
        })?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        for l in &cfg.rootfs.diff_ids {
            if !self.layer_dir(l).is_dir() {
                return Err(RuntimeError::Failed(format!(
                    "image {id}: layer {l} is not unpacked"
                )));
            }
        }
        let mut rec = match self.list()?.into_iter().find(|i| i.id == id) {
            Some(r) => r,
            None => ImageRecord {
                id: id.clone(),
                layers: cfg.rootfs.diff_ids.clone(),
                repo_tags: vec![],
                repo_digests: vec![],
                size: cfg
                    .rootfs
                    .diff_ids
                    .iter()
                    .map(|l| dir_size(&self.layer_dir(l)))
                    .sum::<u64>()
                    .max(1),
                config: cfg.config.unwrap_or_default(),
            },
        };
        for other in self.list()? {
            if other.id != id && other.repo_tags.iter().any(|t| tags.contains(t)) {
                let mut o = other.clone();
                o.repo_tags.retain(|t| !tags.contains(t));
                self.write_record(&o)?;
            }
        }
        for t in tags {
            if !rec.repo_tags.contains(t) {
                rec.repo_tags.push(t.clone());
            }
        }
        for d in repo_digests {
            if !rec.repo_digests.contains(d) {
                rec.repo_digests.push(d.clone());
            }
        }
        self.write_record(&rec)?;
        Ok(rec)
    }

    /// Adds `reference` as a tag of the image found by `source`.
    pub fn tag(&self, source: &str, reference: &str) -> Result<ImageRecord> {
        let img = self
            .find(source)?
            .ok_or_else(|| RuntimeError::ImageNotFound(source.to_string()))?;
        let full = Reference::parse(reference)?.full();
        let cfg = self.config_json(&img)?;
        self.add_image(&cfg, &[full], &[])
    }

    fn config_json(&self, img: &ImageRecord) -> Result<Vec<u8>> {
        let p = self.root.join("configs").join(hex_of(&img.id));
        fs::read(&p).ctx("read image config", &p)
    }

    /// Keeps an image config blob (`tag` re-records images from it).
    pub fn store_config(&self, config_json: &[u8]) -> Result<()> {
        let dir = self.root.join("configs");
        fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let p = dir.join(hex_of(&sha256_bytes(config_json)));
        fs::write(&p, config_json).ctx("write", &p)
    }

    /// Removes an image (all its tags). Layers no other image uses are deleted. Returns whether
    /// something was removed.
    pub fn remove(&self, spec: &str) -> Result<bool> {
        let Some(img) = self.find(spec)? else {
            return Ok(false);
        };
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let path = self
            .root
            .join("images")
            .join(format!("{}.json", hex_of(&img.id)));
        fs::remove_file(&path).ctx("remove", &path)?;
        let _ = fs::remove_file(self.root.join("configs").join(hex_of(&img.id)));
        let used: Vec<String> = self.list()?.into_iter().flat_map(|i| i.layers).collect();
        for l in &img.layers {
            if !used.contains(l) {
                let d = self.layer_dir(l);
                let _ = fs::remove_dir_all(&d);
            }
        }
        Ok(true)
    }

    /// Unpacks a layer tar (plain or gzip) if its diff id is not unpacked yet. With
    /// `expected_diff_id` the uncompressed content must hash to it.
    pub fn unpack_layer(&self, mut blob: fs::File, expected_diff_id: &str) -> Result<()> {
        let dest = self.layer_dir(expected_diff_id);
        if dest.is_dir() {
            return Ok(());
        }
        let mut magic = [0u8; 2];
        let n = blob.read(&mut magic).ctx("read layer", &dest)?;
        blob.rewind().ctx("rewind layer", &dest)?;
        let tmp = self.tmp_dir().join(format!(
            "layer-{}-{}",
            hex_of(expected_diff_id),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&tmp).ctx("create dir", &tmp)?;
        let res = if n == 2 && magic == [0x1f, 0x8b] {
            unpack_into(HashingReader::new(flate2::read::GzDecoder::new(blob)), &tmp)
        } else {
            unpack_into(HashingReader::new(blob), &tmp)
        };
        let digest = match res {
            Ok(d) => d,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if digest != expected_diff_id {
            let _ = fs::remove_dir_all(&tmp);
            return Err(RuntimeError::Failed(format!(
                "layer content hashes to {digest}, expected {expected_diff_id}"
            )));
        }
        match fs::rename(&tmp, &dest) {
            Ok(()) => Ok(()),
            Err(_) if dest.is_dir() => {
                let _ = fs::remove_dir_all(&tmp);
                Ok(())
            }
            Err(e) => Err(e).ctx("rename", &dest),
        }
    }

    /// Imports a docker-save or OCI-layout archive (plain or gzip tar). Returns the images.
    pub fn import_archive(&self, archive: &Path) -> Result<Vec<ImageRecord>> {
        let extracted = self.extract_archive(archive)?;
        let mut out = Vec::new();
        for image in &extracted.images {
            for (layer, diff_id) in image.layers.iter().zip(&image.diff_ids) {
                let f = fs::File::open(layer).ctx("open layer", layer)?;
                self.unpack_layer(f, diff_id)?;
            }
            self.store_config(&image.config)?;
            out.push(self.add_image(&image.config, &image.tags, &[])?);
        }
        Ok(out)
    }

    /// Unpacks a docker-save or OCI-layout archive (plain or gzip tar) into scratch space and
    /// reads its images: what `import` stores and `push` uploads. The scratch copy goes when
    /// the result is dropped.
    pub fn extract_archive(&self, archive: &Path) -> Result<ExtractedArchive> {
        let bad = |reason: String| RuntimeError::Archive {
            path: archive.to_path_buf(),
            reason,
        };
        let dir = self
            .tmp_dir()
            .join(format!("import-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).ctx("create dir", &dir)?;
        let mut extracted = ExtractedArchive {
            dir,
            images: Vec::new(),
        };
        let dir = extracted.dir.clone();
        let mut f = fs::File::open(archive).ctx("open", archive)?;
        let mut magic = [0u8; 2];
        let n = f.read(&mut magic).ctx("read", archive)?;
        f.rewind().ctx("rewind", archive)?;
        let mut ar: tar::Archive<Box<dyn Read>> = if n == 2 && magic == [0x1f, 0x8b] {
            tar::Archive::new(Box::new(flate2::read::GzDecoder::new(f)))
        } else {
            tar::Archive::new(Box::new(f))
        };
        ar.unpack(&dir)
            .map_err(|e| bad(format!("not a tar archive: {e}")))?;
        extracted.images = if dir.join("manifest.json").is_file() {
            read_docker_save(&dir, &bad)?
        } else if dir.join("index.json").is_file() {
            read_oci_layout(&dir, &bad)?
        } else {
            return Err(bad(
                "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
            ));
        };
        Ok(extracted)
    }

    /// Bytes and inodes used by the store.
    pub fn usage(&self) -> (u64, u64) {
        let mut inodes = 0;
        let bytes = dir_size_count(&self.root, &mut inodes);
        (bytes, inodes)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The layer diff ids an image config lists, bottom first.
pub fn config_diff_ids(config_json: &[u8]) -> Result<Vec<String>> {
    let cfg: ConfigFile = serde_json::from_slice(config_json).map_err(|e| {
        RuntimeError::InvalidArgument(format!(
            "image config {} is not valid: {e}",
            sha256_bytes(config_json)
        ))
    })?;
    Ok(cfg.rootfs.diff_ids)
}

/// One image of an extracted archive.
#[derive(Debug, Clone)]
pub struct ArchiveImage {
    /// The config blob, byte for byte (its sha256 is the image id).
    pub config: Vec<u8>,
    /// Layer files (tar or tar.gz), bottom first.
    pub layers: Vec<PathBuf>,
    /// The config's diff ids, one per layer.
    pub diff_ids: Vec<String>,
    /// Normalised references the archive names the image by.
    pub tags: Vec<String>,
}

/// An archive unpacked into the store's scratch space, removed on drop.
#[derive(Debug)]
pub struct ExtractedArchive {
    dir: PathBuf,
    pub images: Vec<ArchiveImage>,
}

impl Drop for ExtractedArchive {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn read_docker_save(dir: &Path, bad: &dyn Fn(String) -> RuntimeError) -> Result<Vec<ArchiveImage>> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Entry {
        config: String,
        #[serde(default)]
        repo_tags: Option<Vec<String>>,
        layers: Vec<String>,
    }
    let data = fs::read(dir.join("manifest.json")).ctx("read", dir.join("manifest.json"))?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&data).map_err(|e| bad(format!("manifest.json: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let config_path =
            safe_join(dir, &e.config).ok_or_else(|| bad(format!("bad path {}", e.config)))?;
        let config = fs::read(&config_path).ctx("read", &config_path)?;
        let cfg: ConfigFile = serde_json::from_slice(&config)
            .map_err(|err| bad(format!("config {}: {err}", e.config)))?;
        if cfg.rootfs.diff_ids.len() != e.layers.len() {
            return Err(bad("layer count differs from config diff_ids".into()));
        }
        let layers = e
            .layers
            .iter()
            .map(|l| safe_join(dir, l).ok_or_else(|| bad(format!("bad path {l}"))))
            .collect::<Result<Vec<_>>>()?;
        let tags = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t).map(|r| r.full()))
            .collect::<Result<Vec<_>>>()?;
        out.push(ArchiveImage {
            config,
            layers,
            diff_ids: cfg.rootfs.diff_ids,
            tags,
        });
    }
    Ok(out)
}

fn read_oci_layout(dir: &Path, bad: &dyn Fn(String) -> RuntimeError) -> Result<Vec<ArchiveImage>> {
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
        #[serde(default)]
        annotations: BTreeMap<String, String>,
    }
    #[derive(Deserialize)]
    struct Index {
        manifests: Vec<Descriptor>,
    }
    #[derive(Deserialize)]
    struct Manifest {
        config: Descriptor,
        layers: Vec<Descriptor>,
    }
    let blob = |d: &str| -> Result<PathBuf> {
        if !is_digest(d) {
            return Err(bad(format!("bad digest {d}")));
        }
        Ok(dir.join("blobs/sha256").join(hex_of(d)))
    };
    let data = fs::read(dir.join("index.json")).ctx("read", dir.join("index.json"))?;
    let index: Index =
        serde_json::from_slice(&data).map_err(|e| bad(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for m in index.manifests {
        let mp = blob(&m.digest)?;
        let mdata = fs::read(&mp).ctx("read manifest", &mp)?;
        let manifest: Manifest = serde_json::from_slice(&mdata)
            .map_err(|e| bad(format!("manifest {}: {e}", m.digest)))?;
        let cp = blob(&manifest.config.digest)?;
        let config = fs::read(&cp).ctx("read config", &cp)?;
        let cfg: ConfigFile =
            serde_json::from_slice(&config).map_err(|e| bad(format!("config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(bad("layer count differs from config diff_ids".into()));
        }
        let layers = manifest
            .layers
            .iter()
            .map(|l| blob(&l.digest))
            .collect::<Result<Vec<_>>>()?;
        let mut tags = Vec::new();
        for key in [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ] {
            if let Some(name) = m.annotations.get(key) {
                if let Ok(r) = Reference::parse(name) {
                    tags.push(r.full());
                    break;
                }
            }
        }
        out.push(ArchiveImage {
            config,
            layers,
            diff_ids: cfg.rootfs.diff_ids,
            tags,
        });
    }
    Ok(out)
}

/// Joins a relative archive path onto `dir`, refusing absolute paths and `..`.
pub fn safe_join(dir: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

fn dir_size(p: &Path) -> u64 {
    let mut n = 0;
    dir_size_count(p, &mut n)
}

fn dir_size_count(p: &Path, inodes: &mut u64) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    let mut total = 0;
    for e in rd.flatten() {
        *inodes += 1;
        let Ok(md) = e.path().symlink_metadata() else {
            continue;
        };
        if md.is_dir() {
            total += dir_size_count(&e.path(), inodes);
        } else {
            total += md.len();
        }
    }
    total
}

/// A reader that hashes what passes through (to check a layer's diff id while unpacking).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What an OCI layer entry means for an overlay lower dir.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout {
    /// `.wh..wh..opq`: the directory hides everything below it in lower layers.
    Opaque(PathBuf),
    /// `.wh.<name>`: `<name>` is deleted.
    Remove(PathBuf),
    /// A normal entry.
    None,
}

/// Classifies a (normalised, relative) layer path.
pub fn classify_whiteout(path: &Path) -> Whiteout {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Whiteout::None;
    };
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    if name == ".wh..wh..opq" {
        Whiteout::Opaque(parent)
    } else if let Some(target) = name.strip_prefix(".wh.") {
        Whiteout::Remove(parent.join(target))
    } else {
        Whiteout::None
    }
}

/// Unpacks a layer into `dest`, turning OCI whiteouts into overlay whiteouts (0/0 character
/// devices and the `trusted.overlay.opaque` xattr). Returns the sha256 of the tar stream.
fn unpack_into<R: Read>(reader: HashingReader<R>, dest: &Path) -> Result<String> {
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_ownerships(true);
    ar.set_unpack_xattrs(true);
    ar.set_overwrite(true);
    let bad = |e: std::io::Error| RuntimeError::Io {
        what: "unpack layer into",
        path: dest.to_path_buf(),
        source: e,
    };
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(rel) = safe_join(Path::new(""), &raw.to_string_lossy()) else {
            continue;
        };
        match classify_whiteout(&rel) {
            Whiteout::Opaque(dir) => {
                let d = dest.join(dir);
                fs::create_dir_all(&d).ctx("create dir", &d)?;
                crate::sys::set_xattr(&d, "trusted.overlay.opaque", b"y")?;
            }
            Whiteout::Remove(target) => {
                let t = dest.join(target);
                if let Some(p) = t.parent() {
                    fs::create_dir_all(p).ctx("create dir", p)?;
                }
                let _ = fs::remove_dir_all(&t);
                let _ = fs::remove_file(&t);
                crate::sys::mknod_whiteout(&t)?;
            }
            Whiteout::None => {
                if rel.as_os_str().is_empty() {
                    continue;
                }
                entry.unpack_in(dest).map_err(bad)?;
            }
        }
    }
    let mut reader = ar.into_inner();
    // Drain trailing padding so the hash covers the whole stream.
    std::io::copy(&mut reader, &mut std::io::sink()).map_err(bad)?;
    Ok(format!("sha256:{:x}", reader.hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_are_classified() {
        assert_eq!(
            classify_whiteout(Path::new("a/.wh..wh..opq")),
            Whiteout::Opaque("a".into())
        );
        assert_eq!(
            classify_whiteout(Path::new("a/.wh.b")),
            Whiteout::Remove("a/b".into())
        );
        assert_eq!(
            classify_whiteout(Path::new(".wh.x")),
            Whiteout::Remove("x".into())
        );
        assert_eq!(classify_whiteout(Path::new("a/b")), Whiteout::None);
    }

    #[test]
    fn safe_join_refuses_escapes() {
        let d = Path::new("/x");
        assert_eq!(safe_join(d, "./a/b"), Some(PathBuf::from("/x/a/b")));
        assert_eq!(safe_join(d, "../a"), None);
        assert_eq!(safe_join(d, "/etc/passwd"), None);
    }

    fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn docker_save(dir: &Path, layers: &[Vec<u8>], tag: &str) -> PathBuf {
        let pkg = dir.join(format!("pkg-{tag}"));
        fs::create_dir_all(&pkg).unwrap();
        let mut names = vec![];
        let mut diff_ids = vec![];
        for (i, l) in layers.iter().enumerate() {
            fs::create_dir_all(pkg.join(format!("l{i}"))).unwrap();
            fs::write(pkg.join(format!("l{i}/layer.tar")), l).unwrap();
            names.push(format!("l{i}/layer.tar"));
            diff_ids.push(sha256_bytes(l));
        }
        let config = serde_json::json!({"config": {"Cmd": ["sh"], "Env": ["A=1"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids}, "tag": tag});
        fs::write(pkg.join("c.json"), config.to_string()).unwrap();
        let manifest =
            serde_json::json!([{"Config": "c.json", "RepoTags": [tag], "Layers": names}]);
        fs::write(pkg.join("manifest.json"), manifest.to_string()).unwrap();
        let out = dir.join(format!("{}.tar", tag.replace([':', '/'], "_")));
        let mut b = tar::Builder::new(fs::File::create(&out).unwrap());
        b.append_dir_all(".", &pkg).unwrap();
        b.finish().unwrap();
        out
    }

    #[test]
    fn import_dedupes_layers_and_normalises_tags() {
        let t = tempfile::tempdir().unwrap();
        let store = ImageStore::open(t.path().join("store")).unwrap();
        let base = layer_tar(&[("etc/base", b"base")]);
        let a = docker_save(
            t.path(),
            &[base.clone(), layer_tar(&[("a", b"a")])],
            "app:1",
        );
        let b = docker_save(t.path(), std::slice::from_ref(&base), "other");
        let ia = store.import_archive(&a).unwrap();
        let ib = store.import_archive(&b).unwrap();
        assert_eq!(ia[0].repo_tags, vec!["docker.io/library/app:1"]);
        assert_eq!(ib[0].repo_tags, vec!["docker.io/library/other:latest"]);
        assert_eq!(ia[0].layers[0], ib[0].layers[0]);
        // Two images, three layer references, two unpacked layers.
        assert_eq!(
            fs::read_dir(t.path().join("store/layers")).unwrap().count(),
            2
        );
        assert_eq!(ia[0].config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(store.find("app:1").unwrap().unwrap().id, ia[0].id);
        assert_eq!(store.find(&ia[0].id).unwrap().unwrap().id, ia[0].id);
        assert!(store.find("nope").unwrap().is_none());
        // Tagging, then removing one image keeps the shared layer.
        store.tag("other", "copy:v2").unwrap();
        assert_eq!(
            store.find("docker.io/library/copy:v2").unwrap().unwrap().id,
            ib[0].id
        );
        assert!(store.remove("app:1").unwrap());
        assert!(store.layer_dir(&ib[0].layers[0]).is_dir());
        assert!(!store.remove("app:1").unwrap());
        // Temporary import files are gone.
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn rejects_layers_whose_content_does_not_match() {
        let t = tempfile::tempdir().unwrap();
        let store = ImageStore::open(t.path().join("store")).unwrap();
        let p = t.path().join("l.tar");
        fs::write(&p, layer_tar(&[("x", b"x")])).unwrap();
        let err = store
            .unpack_layer(fs::File::open(&p).unwrap(), &sha256_bytes(b"other"))
            .unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        assert_eq!(
            fs::read_dir(t.path().join("store/layers")).unwrap().count(),
            0
        );
    }
}
