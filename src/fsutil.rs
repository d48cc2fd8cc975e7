//! Writing files so that a crash never leaves half of one: a temporary file in the same
//! directory, fsync, rename. The one implementation the journal, the result writers and the
//! uploader's spool share.
//!
//! The temporary file has an unpredictable name and is created exclusively (`O_CREAT|O_EXCL`
//! through `tempfile`), so a link planted in a shared directory is never followed (security
//! review B3); its mode is set on the open file, never by path.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Create a new temporary file next to `path` (`.<name>.<random>.tmp`), exclusively, with
/// `mode` (before the umask) on Unix. The caller renames it into place or removes it.
pub fn create_temp(path: &Path, mode: u32) -> io::Result<(File, PathBuf)> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let prefix = format!(".{name}.");
    let mut b = tempfile::Builder::new();
    b.prefix(&prefix).suffix(".tmp").rand_bytes(12);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    let temp = b.tempfile_in(&dir)?;
    temp.keep().map_err(|e| e.error)
}

/// Write through `f` atomically; the new file gets `mode` (before the umask) on Unix.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_inner(path, mode, None, f)
}

/// Write `bytes` atomically as an executable script: mode 0755 whatever the umask, set on the
/// open file (never `chmod` by path, which would follow a link).
pub fn write_atomic_executable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_inner(path, 0o755, Some(0o755), |w| w.write_all(bytes))
}

fn write_atomic_inner(
    path: &Path,
    mode: u32,
    exact_mode: Option<u32>,
    f: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let (file, temp) = create_temp(path, mode)?;
    let write = || -> io::Result<()> {
        let mut w = BufWriter::new(file);
        f(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        #[cfg(unix)]
        if let Some(m) = exact_mode {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(m))?;
        }
        #[cfg(not(unix))]
        let _ = exact_mode;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Remove every symbolic link under `root` whose target is outside `root` (or cannot be
/// resolved: dangling, a loop), without following any link while walking. Collected artifacts
/// come from code under test; after this, reading a file under `root` never leaves the artifact
/// tree (security review B2). Returns the removed links, relative to `root`.
pub fn remove_escaping_links(root: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(canon_root) = root.canonicalize() else {
        return removed;
    };
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            if ft.is_symlink() {
                let inside = path
                    .canonicalize()
                    .is_ok_and(|t| t.starts_with(&canon_root));
                if !inside && std::fs::remove_file(&path).is_ok() {
                    removed.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
                }
            } else if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    removed.sort();
    removed
}

/// Write `bytes` atomically with the default mode.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, 0o666, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_replaces_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/x.json");
        super::write_atomic(&p, b"one").unwrap();
        super::write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path().join("sub")).unwrap().count(), 1);
        let err = super::write_atomic_with(&p, 0o600, |_| Err(std::io::Error::other("boom")));
        assert!(err.is_err());
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"two",
            "a failed write keeps the old file"
        );
        assert_eq!(std::fs::read_dir(d.path().join("sub")).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn b3_atomic_write_never_follows_a_planted_temp_link() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"PRECIOUS").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // The old predictable names, planted for this process.
        for name in ["summary.json", "slurm_launch.sh"] {
            let planted = out.join(format!(".{name}.tmp-{}", std::process::id()));
            std::os::unix::fs::symlink(&victim, planted).unwrap();
        }
        super::write_atomic(&out.join("summary.json"), b"{}").unwrap();
        super::write_atomic_executable(&out.join("slurm_launch.sh"), b"#!/bin/bash\n").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"PRECIOUS");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the victim was not chmod'ed");
        let script = std::fs::symlink_metadata(out.join("slurm_launch.sh")).unwrap();
        assert!(script.file_type().is_file());
        assert_eq!(script.permissions().mode() & 0o777, 0o755);
        assert!(
            std::fs::symlink_metadata(out.join("summary.json"))
                .unwrap()
                .file_type()
                .is_file()
        );
    }

    #[cfg(unix)]
    #[test]
    fn b2_links_out_of_the_artifact_tree_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        std::fs::write(&secret, b"LOCALSECRET").unwrap();
        let root = d.path().join("artifacts");
        std::fs::create_dir_all(root.join("case")).unwrap();
        std::fs::write(root.join("case/real.log"), b"ok").unwrap();
        std::os::unix::fs::symlink(&secret, root.join("results.xml")).unwrap();
        std::os::unix::fs::symlink("../../secret", root.join("case/trtllm-benchmark.1.0.log"))
            .unwrap();
        std::os::unix::fs::symlink("real.log", root.join("case/inside.log")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        let removed = super::remove_escaping_links(&root);
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(!root.join("results.xml").exists());
        assert!(std::fs::symlink_metadata(root.join("case/trtllm-benchmark.1.0.log")).is_err());
        assert_eq!(std::fs::read(root.join("case/inside.log")).unwrap(), b"ok");
        assert_eq!(std::fs::read(&secret).unwrap(), b"LOCALSECRET");
    }
}
