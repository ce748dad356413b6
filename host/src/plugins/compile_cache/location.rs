//! Where a compile cache lives: its directory, and beside it (never inside) its key.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A compile cache's directory and the file holding the key that authenticates its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheLocation {
    dir: PathBuf,
    key_file: PathBuf,
}

/// A path that cannot be a compile cache directory, because its key could not go beside it.
#[derive(Debug, thiserror::Error)]
#[error("{} cannot hold a compile cache: the directory needs a name of its own (not / or ..)", .0.display())]
pub struct NoDirectoryName(PathBuf);

impl CacheLocation {
    /// Entries in `dir`, the key in `<dir>.key` beside it: `data/compile-cache` keeps its key in
    /// `data/compile-cache.key`, which no one able to write only the cache directory can read
    /// or replace.
    pub fn new(dir: impl Into<PathBuf>) -> Result<CacheLocation, NoDirectoryName> {
        let dir = dir.into();
        let Some(name) = dir.file_name() else {
            return Err(NoDirectoryName(dir));
        };
        let mut key_name = name.to_owned();
        key_name.push(".key");
        let key_file = dir.with_file_name(key_name);
        Ok(CacheLocation { dir, key_file })
    }

    /// The bot's cache: `<data_dir>/compile-cache`, its key `<data_dir>/compile-cache.key`.
    pub fn in_data_dir(data_dir: &Path) -> CacheLocation {
        CacheLocation {
            dir: data_dir.join("compile-cache"),
            key_file: data_dir.join("compile-cache.key"),
        }
    }

    /// A plugin author's cache, shared by their runs: `$XDG_CACHE_HOME/tessera/compile-cache`,
    /// else `$HOME/.cache/tessera/compile-cache`; `None` if neither names an absolute directory.
    pub fn per_user() -> Option<CacheLocation> {
        CacheLocation::per_user_from(|name| std::env::var_os(name))
    }

    fn per_user_from(env: impl Fn(&str) -> Option<OsString>) -> Option<CacheLocation> {
        // The XDG base directory spec: a relative or empty value is ignored.
        let absolute = |name| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
        let base =
            absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|h| h.join(".cache")))?;
        Some(CacheLocation::in_data_dir(&base.join("tessera")))
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the key, outside [`CacheLocation::dir`].
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_beside_the_directory_never_inside() {
        let location = CacheLocation::new("/srv/tessera/compile-cache").expect("a location");
        assert_eq!(location.dir(), Path::new("/srv/tessera/compile-cache"));
        assert_eq!(
            location.key_file(),
            Path::new("/srv/tessera/compile-cache.key")
        );
        let relative = CacheLocation::new("cache/").expect("a location");
        assert_eq!(relative.key_file(), Path::new("cache.key"));
        assert!(!relative.key_file().starts_with(relative.dir()));
        for nameless in ["/", "..", "", "cache/.."] {
            assert!(CacheLocation::new(nameless).is_err(), "{nameless:?}");
        }
        let data = CacheLocation::in_data_dir(Path::new("/data"));
        assert_eq!(
            data,
            CacheLocation::new("/data/compile-cache").expect("same")
        );
    }

    #[test]
    fn per_user_follows_xdg_then_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let xdg =
            CacheLocation::per_user_from(env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/home/a")]))
                .expect("a location");
        assert_eq!(xdg.dir(), Path::new("/x/tessera/compile-cache"));
        assert_eq!(xdg.key_file(), Path::new("/x/tessera/compile-cache.key"));
        let home = CacheLocation::per_user_from(env(&[
            ("XDG_CACHE_HOME", "relative"),
            ("HOME", "/home/a"),
        ]))
        .expect("a location");
        assert_eq!(
            home.dir(),
            Path::new("/home/a/.cache/tessera/compile-cache")
        );
        assert!(CacheLocation::per_user_from(env(&[("HOME", "")])).is_none());
        assert!(CacheLocation::per_user_from(env(&[])).is_none());
    }
}
