//! Files that only this user can have written. The cache directory and its key file are opened
//! without following a symbolic link and used only if the effective user owns them and no one
//! else may write them (nor, for the key, read them); entries are opened through the checked
//! directory's descriptor, so swapping a path after the check redirects nothing.

use std::path::{Path, PathBuf};

/// Why the cache directory or its key file was not used.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unusable {
    /// It is there, but what it holds cannot be trusted; the operator must fix or remove it.
    #[error("{}: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
    /// It could not be created, opened or read.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl Unusable {
    fn refused(path: &Path, reason: impl Into<String>) -> Unusable {
        Unusable::Refused {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

#[cfg(unix)]
pub(super) use unix::{create_private_file, read_private_file, PrivateDir};

#[cfg(not(unix))]
pub(super) use elsewhere::{create_private_file, read_private_file, PrivateDir};

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io::{self, Read as _, Write as _};
    use std::os::fd::OwnedFd;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    use anyhow::Context as _;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};
    use rustix::io::Errno;
    use rustix::process::Uid;

    use super::Unusable;

    /// What a checked file must be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(in crate::plugins::compile_cache) enum Expect {
        /// A directory that no one but its owner may write.
        Directory,
        /// A regular file that no one but its owner may read or write.
        PrivateFile,
    }

    /// Whether a file with this `fstat` may be trusted as `expect` by the user `euid`; if not,
    /// why. Apart from the system calls so that it can be tested for any owner.
    pub(in crate::plugins::compile_cache) fn check(
        stat: &Stat,
        expect: Expect,
        euid: Uid,
    ) -> Result<(), String> {
        let kind = FileType::from_raw_mode(stat.st_mode);
        let mode = Mode::from_raw_mode(stat.st_mode);
        let (wanted, others, what) = match expect {
            Expect::Directory => (
                FileType::Directory,
                Mode::WGRP | Mode::WOTH,
                "writable by its group or by others",
            ),
            Expect::PrivateFile => (
                FileType::RegularFile,
                Mode::RWXG | Mode::RWXO,
                "readable or writable by its group or by others",
            ),
        };
        if kind != wanted {
            return Err(format!("is a {kind:?}, not a {wanted:?}"));
        }
        if stat.st_uid != euid.as_raw() {
            return Err(format!(
                "is owned by user {}, not by this process's user {}",
                stat.st_uid,
                euid.as_raw()
            ));
        }
        if mode.intersects(others) {
            return Err(format!("has mode {:o}: {what}", mode.bits() & 0o7777));
        }
        Ok(())
    }

    /// `open(path, flags | O_NOFOLLOW | O_CLOEXEC)`: a symbolic link as the last component is an
    /// error (`ELOOP`), never followed.
    fn open_nofollow(path: &Path, flags: OFlags) -> Result<OwnedFd, Errno> {
        rustix::fs::open(
            path,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Why `path` could not be opened as `expect`: refused if something else is there (a symbolic
    /// link, a file of another type), otherwise the system's error.
    fn not_opened(path: &Path, errno: Errno, expect: Expect) -> Unusable {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => Unusable::refused(
                path,
                "is a symbolic link, which the compile cache never follows",
            ),
            Ok(meta) if expect == Expect::Directory && !meta.is_dir() => {
                Unusable::refused(path, "is not a directory")
            }
            Ok(meta) if expect == Expect::PrivateFile && !meta.is_file() => {
                Unusable::refused(path, "is not a regular file")
            }
            _ => Unusable::Failed(
                anyhow::Error::from(io::Error::from(errno))
                    .context(format!("opening {}", path.display())),
            ),
        }
    }

    fn checked(fd: &OwnedFd, path: &Path, expect: Expect, euid: Uid) -> Result<(), Unusable> {
        let stat = rustix::fs::fstat(fd)
            .map_err(io::Error::from)
            .with_context(|| format!("reading the owner and mode of {}", path.display()))?;
        check(&stat, expect, euid).map_err(|reason| Unusable::refused(path, reason))
    }

    /// A name for a temporary file beside `name`, unique in this process and among processes.
    fn temp_name(name: &str) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Flags to create a new file that is not there yet, never through a symbolic link.
    const CREATE_NEW: OFlags = OFlags::WRONLY
        .union(OFlags::CREATE)
        .union(OFlags::EXCL)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    /// An open directory checked to be this user's and writable by no one else.
    #[derive(Debug)]
    pub(in crate::plugins::compile_cache) struct PrivateDir {
        fd: OwnedFd,
        path: PathBuf,
    }

    impl PrivateDir {
        /// Opens the directory `path`, first creating it (and missing parents) with mode 0700 if
        /// there is none, and checks it.
        pub(in crate::plugins::compile_cache) fn open_or_create(
            path: &Path,
        ) -> Result<PrivateDir, Unusable> {
            PrivateDir::open_as(path, rustix::process::geteuid())
        }

        /// [`PrivateDir::open_or_create`] for the user `euid`.
        pub(in crate::plugins::compile_cache) fn open_as(
            path: &Path,
            euid: Uid,
        ) -> Result<PrivateDir, Unusable> {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY;
            let fd = match open_nofollow(path, flags) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    let mut builder = std::fs::DirBuilder::new();
                    std::os::unix::fs::DirBuilderExt::mode(builder.recursive(true), 0o700);
                    builder
                        .create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    open_nofollow(path, flags)
                        .map_err(|errno| not_opened(path, errno, Expect::Directory))?
                }
                Err(errno) => return Err(not_opened(path, errno, Expect::Directory)),
            };
            checked(&fd, path, Expect::Directory, euid)?;
            Ok(PrivateDir {
                fd,
                path: path.to_owned(),
            })
        }

        /// The directory's path (already checked).
        pub(in crate::plugins::compile_cache) fn path(&self) -> &Path {
            &self.path
        }

        /// The contents of the file `name` in this directory, `None` if there is none. A
        /// symbolic link, or anything but a regular file, is an error and is never followed.
        pub(in crate::plugins::compile_cache) fn read(
            &self,
            name: &str,
        ) -> anyhow::Result<Option<Vec<u8>>> {
            let path = self.path.join(name);
            // O_NONBLOCK: a FIFO planted under the name must not block the load.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP) => anyhow::bail!(
                    "{} is a symbolic link, which the compile cache never follows",
                    path.display()
                ),
                Err(errno) => {
                    return Err(io::Error::from(errno))
                        .with_context(|| format!("opening {}", path.display()))
                }
            };
            let stat = rustix::fs::fstat(&fd)
                .map_err(io::Error::from)
                .with_context(|| format!("reading the type of {}", path.display()))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                anyhow::bail!("{} is not a regular file", path.display());
            }
            let mut bytes = Vec::new();
            File::from(fd)
                .read_to_end(&mut bytes)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(bytes))
        }

        /// Writes `parts` as the file `name` in this directory, atomically: a new temporary file
        /// (mode 0600) beside it, then a rename over whatever had the name (a symbolic link is
        /// replaced, not followed), so a reader sees the old file, none, or the whole new one.
        /// Not synced: after a crash a partly written entry fails its check and is rewritten.
        pub(in crate::plugins::compile_cache) fn store(
            &self,
            name: &str,
            parts: &[&[u8]],
        ) -> anyhow::Result<()> {
            let temp = temp_name(name);
            let path = self.path.join(name);
            let written = (|| {
                let fd = rustix::fs::openat(&self.fd, &temp, CREATE_NEW, Mode::RUSR | Mode::WUSR)
                    .map_err(io::Error::from)
                    .with_context(|| format!("creating {}", self.path.join(&temp).display()))?;
                let mut file = File::from(fd);
                for part in parts {
                    file.write_all(part)
                        .with_context(|| format!("writing {}", self.path.join(&temp).display()))?;
                }
                drop(file);
                rustix::fs::renameat(&self.fd, &temp, &self.fd, name)
                    .map_err(io::Error::from)
                    .with_context(|| format!("renaming {temp} to {}", path.display()))
            })();
            if written.is_err() {
                let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
            }
            written
        }
    }

    /// The contents of the regular file `path` (at most `limit` bytes are read), `None` if there
    /// is none. Refused unless this user owns it and no one else may read or write it.
    pub(in crate::plugins::compile_cache) fn read_private_file(
        path: &Path,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, Unusable> {
        let euid = rustix::process::geteuid();
        let fd = match open_nofollow(path, OFlags::RDONLY | OFlags::NONBLOCK) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(None),
            Err(errno) => return Err(not_opened(path, errno, Expect::PrivateFile)),
        };
        checked(&fd, path, Expect::PrivateFile, euid)?;
        let mut bytes = Vec::new();
        File::from(fd)
            .take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(bytes))
    }

    /// Creates the file `path` holding `contents`, mode 0600, whole or not at all: written and
    /// synced under a temporary name, then linked to `path`, which never replaces a file that
    /// is there. `false` if there was one already (another process made it first).
    pub(in crate::plugins::compile_cache) fn create_private_file(
        path: &Path,
        contents: &[u8],
    ) -> anyhow::Result<bool> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .with_context(|| format!("{} has no file name", path.display()))?;
        let temp = path.with_file_name(temp_name(&name));
        let created = (|| {
            let fd = rustix::fs::open(&temp, CREATE_NEW, Mode::RUSR | Mode::WUSR)
                .map_err(io::Error::from)
                .with_context(|| format!("creating {}", temp.display()))?;
            let mut file = File::from(fd);
            file.write_all(contents)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", temp.display()))?;
            drop(file);
            match rustix::fs::linkat(CWD, &temp, CWD, path, AtFlags::empty()) {
                Ok(()) => Ok(true),
                Err(Errno::EXIST) => Ok(false),
                Err(errno) => Err(io::Error::from(errno))
                    .with_context(|| format!("linking {} to {}", temp.display(), path.display())),
            }
        })();
        let _ = std::fs::remove_file(&temp);
        created
    }
}

/// Elsewhere the owner and mode of a file cannot be checked the same way: no cache is used.
#[cfg(not(unix))]
mod elsewhere {
    use std::path::Path;

    use super::Unusable;

    const WHY: &str = "the compile cache is only used where it can check who owns its files (Unix)";

    /// Never made: there is no private directory here.
    #[derive(Debug)]
    pub(in crate::plugins::compile_cache) struct PrivateDir(std::convert::Infallible);

    impl PrivateDir {
        pub(in crate::plugins::compile_cache) fn open_or_create(
            path: &Path,
        ) -> Result<PrivateDir, Unusable> {
            Err(Unusable::refused(path, WHY))
        }

        pub(in crate::plugins::compile_cache) fn path(&self) -> &Path {
            match self.0 {}
        }

        pub(in crate::plugins::compile_cache) fn read(
            &self,
            _name: &str,
        ) -> anyhow::Result<Option<Vec<u8>>> {
            match self.0 {}
        }

        pub(in crate::plugins::compile_cache) fn store(
            &self,
            _name: &str,
            _parts: &[&[u8]],
        ) -> anyhow::Result<()> {
            match self.0 {}
        }
    }

    pub(in crate::plugins::compile_cache) fn read_private_file(
        path: &Path,
        _limit: u64,
    ) -> Result<Option<Vec<u8>>, Unusable> {
        Err(Unusable::refused(path, WHY))
    }

    pub(in crate::plugins::compile_cache) fn create_private_file(
        path: &Path,
        _contents: &[u8],
    ) -> anyhow::Result<bool> {
        anyhow::bail!("{}: {WHY}", path.display())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::unix::{check, Expect, PrivateDir};
    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    fn stat(path: &Path) -> rustix::fs::Stat {
        rustix::fs::lstat(path).expect("lstat")
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let me = rustix::process::geteuid();
        let someone_else = rustix::process::Uid::from_raw(me.as_raw().wrapping_add(1));
        assert!(PrivateDir::open_as(dir.path(), me).is_ok());
        let refused = PrivateDir::open_as(dir.path(), someone_else).expect_err("refused");
        assert!(
            matches!(&refused, Unusable::Refused { reason, .. } if reason.contains("owned by")),
            "{refused}"
        );
    }

    #[test]
    fn a_directory_writable_by_group_or_others_is_refused_readable_is_not() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let me = rustix::process::geteuid();
        for (mode, trusted) in [
            (0o700, true),
            (0o755, true),
            (0o750, true),
            (0o770, false),
            (0o720, false),
            (0o702, false),
            (0o777, false),
            (0o1777, false),
        ] {
            chmod(dir.path(), mode);
            assert_eq!(
                check(&stat(dir.path()), Expect::Directory, me).is_ok(),
                trusted,
                "mode {mode:o}"
            );
        }
        chmod(dir.path(), 0o700);
    }

    #[test]
    fn a_key_file_anyone_else_may_read_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let key = dir.path().join("k");
        assert!(create_private_file(&key, b"secret").expect("created"));
        assert!(!create_private_file(&key, b"other").expect("not replaced"));
        assert_eq!(
            read_private_file(&key, 64).expect("readable").as_deref(),
            Some(&b"secret"[..])
        );
        let me = rustix::process::geteuid();
        for (mode, trusted) in [
            (0o600, true),
            (0o400, true),
            (0o640, false),
            (0o604, false),
            (0o620, false),
        ] {
            chmod(&key, mode);
            assert_eq!(
                check(&stat(&key), Expect::PrivateFile, me).is_ok(),
                trusted,
                "mode {mode:o}"
            );
            assert_eq!(
                read_private_file(&key, 64).is_ok(),
                trusted,
                "mode {mode:o}"
            );
        }
    }

    #[test]
    fn the_right_type_is_required() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = dir.path().join("f");
        std::fs::write(&file, b"").expect("a file");
        chmod(&file, 0o600);
        let me = rustix::process::geteuid();
        assert!(check(&stat(&file), Expect::Directory, me).is_err());
        chmod(dir.path(), 0o700);
        assert!(check(&stat(dir.path()), Expect::PrivateFile, me).is_err());
        assert!(matches!(
            PrivateDir::open_or_create(&file),
            Err(Unusable::Refused { .. })
        ));
        assert!(matches!(
            read_private_file(dir.path(), 64),
            Err(Unusable::Refused { .. })
        ));
    }

    #[test]
    fn symbolic_links_are_refused_not_followed() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let real = dir.path().join("real");
        let key = dir.path().join("key");
        PrivateDir::open_or_create(&real).expect("created");
        create_private_file(&key, b"secret").expect("created");
        let linked_dir = dir.path().join("linked-dir");
        let linked_key = dir.path().join("linked-key");
        std::os::unix::fs::symlink(&real, &linked_dir).expect("symlink");
        std::os::unix::fs::symlink(&key, &linked_key).expect("symlink");
        assert!(matches!(
            PrivateDir::open_or_create(&linked_dir),
            Err(Unusable::Refused { .. })
        ));
        assert!(matches!(
            read_private_file(&linked_key, 64),
            Err(Unusable::Refused { .. })
        ));
        // Inside the directory too.
        let opened = PrivateDir::open_or_create(&real).expect("opened");
        std::os::unix::fs::symlink(&key, real.join("entry")).expect("symlink");
        assert!(opened.read("entry").is_err());
        opened.store("entry", &[b"new"]).expect("replaces the link");
        assert_eq!(std::fs::read(real.join("entry")).expect("read"), b"new");
        assert_eq!(std::fs::read(&key).expect("the target"), b"secret");
    }

    #[test]
    fn a_created_directory_and_file_are_private() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let nested = dir.path().join("a/b");
        PrivateDir::open_or_create(&nested).expect("created");
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&nested), 0o700);
        let key = dir.path().join("a/k");
        create_private_file(&key, b"x").expect("created");
        assert_eq!(mode(&key), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("a"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    }
}
