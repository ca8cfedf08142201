//! The kubelet's `AtomicWriter`: a set of files written into a directory so
//! that a reader sees either the whole old set or the whole new one, never
//! a mix.
//!
//! The target directory holds
//!
//! ```text
//! ..2026_12_07_17_41_35.1234567890/   the files of the payload, at their paths
//! ..data -> ..2026_12_07_17_41_35.1234567890
//! app.conf -> ..data/app.conf           one symlink per top-level path
//! nested -> ..data/nested
//! ```
//!
//! An update writes a new timestamped directory, points a temporary symlink
//! at it and renames that over `..data` (`rename(2)` is atomic), then makes
//! the user-visible symlinks of new top-level paths, removes those of paths
//! that are gone, and removes the old directory. A container that has the
//! target directory mounted (a bind mount, or the process runtime's symlink)
//! sees the new files as soon as `..data` is swapped, without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The symlink to the current timestamped directory.
pub(crate) const DATA_DIR_NAME: &str = "..data";
/// The symlink made beside `..data` and renamed over it.
const DATA_DIR_TMP_NAME: &str = "..data_tmp";

/// One file of a payload (the kubelet's `FileProjection`): its bytes and
/// its permission bits (`0..=0o777`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileProjection {
    /// The content.
    pub(crate) data: Vec<u8>,
    /// Permission bits, e.g. `0o644`.
    pub(crate) mode: u32,
}

/// Writes payloads into one target directory. See the [module docs](self).
#[derive(Clone, Debug)]
pub(crate) struct AtomicWriter {
    target_dir: PathBuf,
}

fn io_reason(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

/// A payload path, cleaned (`a//b/./c` → `a/b/c`), or why it is refused:
/// empty, absolute, with a `..` element, or starting with `..` (the
/// writer's own names), as the kubelet's `validatePath`.
fn clean_path(path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("invalid path: must not be empty".into());
    }
    if path.starts_with('/') {
        return Err(format!("invalid path {path:?}: must be relative"));
    }
    if path.starts_with("..") {
        return Err(format!("invalid path {path:?}: must not start with '..'"));
    }
    let mut clean = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(c) => clean.push(c),
            Component::CurDir => {}
            _ => return Err(format!("invalid path {path:?}: must not contain '..'")),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(format!("invalid path {path:?}: names no file"));
    }
    Ok(clean)
}

/// The first element of a cleaned path: what gets a user-visible symlink.
fn top_level(path: &Path) -> PathBuf {
    path.components().next().map_or_else(PathBuf::new, |c| PathBuf::from(c.as_os_str()))
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> std::io::Result<BTreeSet<PathBuf>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                out.insert(path);
            }
        }
    }
    Ok(out)
}

/// A name for a new timestamped directory, as the kubelet's
/// `..2006_01_02_15_04_05.<random>`.
fn timestamped_name() -> String {
    let random = uuid::Uuid::new_v4().as_u128() % 10_000_000_000;
    format!("{}{random}", chrono::Utc::now().format("..%Y_%m_%d_%H_%M_%S."))
}

impl AtomicWriter {
    /// A writer for `target_dir` (created on the first write).
    pub(crate) fn new(target_dir: impl Into<PathBuf>) -> Self {
        AtomicWriter { target_dir: target_dir.into() }
    }

    /// The name of the timestamped directory `..data` points at now.
    fn current_data_dir(&self) -> Option<PathBuf> {
        std::fs::read_link(self.target_dir.join(DATA_DIR_NAME)).ok()
    }

    /// Whether the files behind `..data` are exactly `payload` (content and
    /// mode, and no other file).
    fn unchanged(&self, data_dir: &Path, payload: &BTreeMap<PathBuf, &FileProjection>) -> bool {
        let dir = self.target_dir.join(data_dir);
        let Ok(existing) = files_under(&dir) else { return false };
        if existing.len() != payload.len() || !payload.keys().all(|p| existing.contains(p)) {
            return false;
        }
        payload.iter().all(|(path, file)| {
            let path = dir.join(path);
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            mode.is_ok_and(|m| m == file.mode)
                && std::fs::read(&path).is_ok_and(|data| data == file.data)
        })
    }

    /// Writes `payload` (path relative to the target directory → file),
    /// replacing what was there atomically. Returns whether anything was
    /// written (false when the files on disk already are the payload).
    ///
    /// Errors: a sentence naming the path, for an invalid payload path (see
    /// [`clean_path`]) or a failed filesystem call; what was visible before
    /// stays visible.
    pub(crate) fn write(&self, payload: &BTreeMap<String, FileProjection>) -> Result<bool, String> {
        let mut cleaned = BTreeMap::new();
        for (path, file) in payload {
            if file.mode > 0o777 {
                return Err(format!("invalid mode {:o} for {path:?}", file.mode));
            }
            cleaned.insert(clean_path(path)?, file);
        }
        let target = &self.target_dir;
        std::fs::create_dir_all(target).map_err(|e| io_reason("creating", target, e))?;
        let old = self.current_data_dir();
        if let Some(old) = &old {
            if self.unchanged(old, &cleaned) {
                self.link_user_visible(&cleaned)?;
                return Ok(false);
            }
        }

        // The new timestamped directory, with every file.
        let name = PathBuf::from(timestamped_name());
        let new_dir = target.join(&name);
        std::fs::create_dir(&new_dir).map_err(|e| io_reason("creating", &new_dir, e))?;
        let result = self.fill(&new_dir, &cleaned);
        if let Err(e) = result {
            let _ = std::fs::remove_dir_all(&new_dir);
            return Err(e);
        }

        // Swap `..data` to it: a temporary symlink renamed over the old one.
        let tmp = target.join(DATA_DIR_TMP_NAME);
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = std::os::unix::fs::symlink(&name, &tmp)
            .map_err(|e| io_reason("linking", &tmp, e))
            .and_then(|()| {
                std::fs::rename(&tmp, target.join(DATA_DIR_NAME))
                    .map_err(|e| io_reason("renaming", &tmp, e))
            })
        {
            let _ = std::fs::remove_dir_all(&new_dir);
            return Err(e);
        }

        self.link_user_visible(&cleaned)?;
        self.remove_stale(&cleaned, &name)?;
        Ok(true)
    }

    /// Writes the payload's files into `dir`, each with its mode (set after
    /// the write, so the umask does not narrow it).
    fn fill(&self, dir: &Path, payload: &BTreeMap<PathBuf, &FileProjection>) -> Result<(), String> {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_reason("setting the mode of", dir, e))?;
        for (path, file) in payload {
            let full = dir.join(path);
            if let Some(parent) = full.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_reason("creating", parent, e))?;
            }
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(file.mode)
                .open(&full)
                .map_err(|e| io_reason("creating", &full, e))?;
            f.write_all(&file.data).map_err(|e| io_reason("writing", &full, e))?;
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(file.mode))
                .map_err(|e| io_reason("setting the mode of", &full, e))?;
        }
        Ok(())
    }

    /// Makes `name -> ..data/name` for every top-level path of the payload
    /// (replacing anything else found at that name).
    fn link_user_visible(
        &self,
        payload: &BTreeMap<PathBuf, &FileProjection>,
    ) -> Result<(), String> {
        let tops: BTreeSet<PathBuf> = payload.keys().map(|p| top_level(p)).collect();
        for top in tops {
            let visible = self.target_dir.join(&top);
            let want = Path::new(DATA_DIR_NAME).join(&top);
            if std::fs::read_link(&visible).is_ok_and(|t| t == want) {
                continue;
            }
            if let Ok(meta) = std::fs::symlink_metadata(&visible) {
                let removed = if meta.is_dir() {
                    std::fs::remove_dir_all(&visible)
                } else {
                    std::fs::remove_file(&visible)
                };
                removed.map_err(|e| io_reason("removing", &visible, e))?;
            }
            std::os::unix::fs::symlink(&want, &visible)
                .map_err(|e| io_reason("linking", &visible, e))?;
        }
        Ok(())
    }

    /// Removes the user-visible symlinks of paths no longer in the payload,
    /// and every timestamped directory but `current`.
    fn remove_stale(
        &self,
        payload: &BTreeMap<PathBuf, &FileProjection>,
        current: &Path,
    ) -> Result<(), String> {
        let tops: BTreeSet<PathBuf> = payload.keys().map(|p| top_level(p)).collect();
        let target = &self.target_dir;
        let entries = std::fs::read_dir(target).map_err(|e| io_reason("reading", target, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_reason("reading", target, e))?;
            let name = PathBuf::from(entry.file_name());
            let path = entry.path();
            let is_symlink = entry.file_type().is_ok_and(|t| t.is_symlink());
            let stale = if name.to_string_lossy().starts_with("..") {
                // The old timestamped directories (and a `..data_tmp` left by
                // a crash); `..data` and the current directory stay.
                name != Path::new(DATA_DIR_NAME) && name != current
            } else {
                is_symlink && !tops.contains(&name)
            };
            if !stale {
                continue;
            }
            let removed = if is_symlink || !path.is_dir() {
                std::fs::remove_file(&path)
            } else {
                std::fs::remove_dir_all(&path)
            };
            removed.map_err(|e| io_reason("removing", &path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &[u8], mode: u32) -> FileProjection {
        FileProjection { data: data.to_vec(), mode }
    }

    fn payload(files: &[(&str, &[u8], u32)]) -> BTreeMap<String, FileProjection> {
        files.iter().map(|(p, d, m)| ((*p).to_owned(), file(d, *m))).collect()
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_layout_is_a_timestamped_dir_behind_data_and_one_symlink_per_top_level_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("vol");
        let w = AtomicWriter::new(&target);
        let p = payload(&[("app.conf", b"a=1\n", 0o644), ("nested/deep/key", b"\x00\xff", 0o600)]);
        assert!(w.write(&p).unwrap());

        let entries = names(&target);
        assert_eq!(entries.len(), 4, "{entries:?}");
        let ts = entries.iter().find(|n| n.starts_with("..2")).unwrap();
        assert!(ts.len() > "..2026_12_07_17_41_35.".len(), "{ts}");
        assert_eq!(std::fs::read_link(target.join("..data")).unwrap(), Path::new(ts));
        assert_eq!(
            std::fs::read_link(target.join("app.conf")).unwrap(),
            Path::new("..data/app.conf")
        );
        assert_eq!(std::fs::read_link(target.join("nested")).unwrap(), Path::new("..data/nested"));
        assert_eq!(std::fs::read(target.join("app.conf")).unwrap(), b"a=1\n");
        assert_eq!(std::fs::read(target.join("nested/deep/key")).unwrap(), b"\x00\xff");
        // No temporary symlink is left.
        assert!(!entries.iter().any(|n| n == DATA_DIR_TMP_NAME));
    }

    #[test]
    fn modes_are_set_exactly_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        let p = payload(&[("open", b"x", 0o777), ("ro", b"y", 0o400), ("none", b"z", 0)]);
        w.write(&p).unwrap();
        assert_eq!(mode(&dir.path().join("open")), 0o777);
        assert_eq!(mode(&dir.path().join("ro")), 0o400);
        assert_eq!(mode(&dir.path().join("none")), 0);
        // A mode change alone is an update.
        let p = payload(&[("open", b"x", 0o640), ("ro", b"y", 0o400), ("none", b"z", 0)]);
        assert!(w.write(&p).unwrap());
        assert_eq!(mode(&dir.path().join("open")), 0o640);
    }

    #[test]
    fn an_update_swaps_data_to_a_new_dir_and_removes_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        w.write(&payload(&[("k", b"old", 0o644)])).unwrap();
        let old = std::fs::read_link(dir.path().join("..data")).unwrap();
        // A reader that opened the old file keeps reading the old content.
        let mut open = std::fs::File::open(dir.path().join("k")).unwrap();

        assert!(w.write(&payload(&[("k", b"new", 0o644)])).unwrap());
        let new = std::fs::read_link(dir.path().join("..data")).unwrap();
        assert_ne!(old, new);
        assert!(!dir.path().join(&old).exists(), "the old dir {old:?} is removed");
        assert_eq!(std::fs::read(dir.path().join("k")).unwrap(), b"new");
        let mut seen = String::new();
        std::io::Read::read_to_string(&mut open, &mut seen).unwrap();
        assert_eq!(seen, "old");
        assert_eq!(names(dir.path()).len(), 3, "{:?}", names(dir.path()));
    }

    #[test]
    fn the_same_payload_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        let p = payload(&[("k", b"v", 0o644), ("d/f", b"w", 0o644)]);
        assert!(w.write(&p).unwrap());
        let before = std::fs::read_link(dir.path().join("..data")).unwrap();
        assert!(!w.write(&p).unwrap());
        assert_eq!(std::fs::read_link(dir.path().join("..data")).unwrap(), before);
    }

    #[test]
    fn removed_keys_disappear_and_an_empty_payload_empties_the_volume() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        w.write(&payload(&[("a", b"1", 0o644), ("b", b"2", 0o644), ("d/c", b"3", 0o644)])).unwrap();
        w.write(&payload(&[("a", b"1", 0o644), ("d/e", b"4", 0o644)])).unwrap();
        let visible: Vec<String> =
            names(dir.path()).into_iter().filter(|n| !n.starts_with("..")).collect();
        assert_eq!(visible, ["a", "d"]);
        assert!(!dir.path().join("d/c").exists());
        assert_eq!(std::fs::read(dir.path().join("d/e")).unwrap(), b"4");

        assert!(w.write(&BTreeMap::new()).unwrap());
        let visible: Vec<String> =
            names(dir.path()).into_iter().filter(|n| !n.starts_with("..")).collect();
        assert!(visible.is_empty(), "{visible:?}");
        assert!(dir.path().join("..data").is_dir());
    }

    #[test]
    fn paths_that_escape_the_volume_or_shadow_its_names_are_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let w = AtomicWriter::new(dir.path());
        w.write(&payload(&[("k", b"v", 0o644)])).unwrap();
        for bad in ["../escape", "a/../../b", "/etc/passwd", "..data", "", "."] {
            let err = w.write(&payload(&[(bad, b"x", 0o644)])).unwrap_err();
            assert!(err.contains("invalid path"), "{bad}: {err}");
        }
        assert!(w.write(&payload(&[("k", b"v", 0o1000)])).is_err());
        assert_eq!(std::fs::read(dir.path().join("k")).unwrap(), b"v");
        assert_eq!(names(dir.path()).len(), 3);
        // `./a//b` is the path `a/b`.
        w.write(&payload(&[("./a//b", b"x", 0o644)])).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a/b")).unwrap(), b"x");
    }
}
