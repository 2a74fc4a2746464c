//! [`Filter`]: include / exclude globs over paths relative to a tree's root.

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::{Error, ErrorKind, Result};

/// Which entries of a tree an operation touches: include and exclude globs matched
/// against the path relative to the tree root, with `/` separators (`sub/dir/file.txt`).
///
/// - No include pattern means everything is included; an exclude match always wins.
/// - `*` and `?` do not cross `/`; `**` does (`docs/**/*.md`); `[abc]`, `[!abc]` and
///   `{a,b}` work as in shells; `\` escapes the next character.
/// - A pattern without `/` matches at any depth, against one path component
///   (`*.txt` matches `a.txt` and `sub/b.txt`), as in `.gitignore`.
/// - A pattern starting with `/` is anchored at the tree root (`/build` matches `build`
///   but not `src/build`); any other pattern with a `/` is matched against the whole
///   relative path (`tmp/**`, `sub/*.log`).
/// - A pattern ending in `/` matches directories only, as in `.gitignore`: `build/`
///   leaves out the directory `build` and everything in it but not a file named `build`;
///   `--exclude '*/'` keeps only the files at the top level.
/// - A pattern that matches a directory matches everything under it: excluding `tmp`
///   or `/tmp` leaves out `tmp/a/b.txt`; including `docs` takes in `docs/x/y.md`.
///
/// ```
/// use storage_core::tree::Filter;
///
/// let f = Filter::new(&["*.txt", "data/**"], &["tmp/**", "*.bak.txt"])?;
/// assert!(f.matches("notes.txt"));
/// assert!(f.matches("deep/down/notes.txt"));
/// assert!(f.matches("data/raw/1.bin"));
/// assert!(!f.matches("image.png"));
/// assert!(!f.matches("tmp/notes.txt"));
/// assert!(!f.matches("old.bak.txt"));
/// assert_eq!(Filter::new(&["a[b"], &[]).unwrap_err().kind(), storage_core::ErrorKind::Config);
/// // Directories only, as in .gitignore:
/// let top = Filter::new(&[], &["*/"])?;
/// assert!(top.matches("a.txt") && !top.matches("sub/a.txt") && top.excludes_dir("sub"));
/// let build = Filter::new(&[], &["build/"])?;
/// assert!(build.matches("build") && !build.matches("build/x.o") && !build.matches("src/build/x.o"));
/// # Ok::<(), storage_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Filter {
    include: Vec<String>,
    exclude: Vec<String>,
    include_set: GlobSet,
    exclude_set: GlobSet,
    /// Patterns that ended in `/`: they match directories (a path's parents), not files.
    include_dirs: GlobSet,
    exclude_dirs: GlobSet,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::all()
    }
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("include", &self.include).field("exclude", &self.exclude).finish()
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.include == other.include && self.exclude == other.exclude
    }
}

impl Filter {
    /// A filter that lets everything through.
    pub fn all() -> Self {
        Filter {
            include: Vec::new(),
            exclude: Vec::new(),
            include_set: GlobSet::empty(),
            exclude_set: GlobSet::empty(),
            include_dirs: GlobSet::empty(),
            exclude_dirs: GlobSet::empty(),
        }
    }

    /// A filter from include and exclude patterns; an invalid or empty pattern is a
    /// `Config` error naming it.
    pub fn new(include: &[&str], exclude: &[&str]) -> Result<Self> {
        Ok(Filter {
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            exclude: exclude.iter().map(|s| (*s).to_owned()).collect(),
            include_set: compile(include, false)?,
            exclude_set: compile(exclude, false)?,
            include_dirs: compile(include, true)?,
            exclude_dirs: compile(exclude, true)?,
        })
    }

    /// Only the paths matching one of `patterns`.
    pub fn include(patterns: &[&str]) -> Result<Self> {
        Filter::new(patterns, &[])
    }

    /// Everything but the paths matching one of `patterns`.
    pub fn exclude(patterns: &[&str]) -> Result<Self> {
        Filter::new(&[], patterns)
    }

    /// Whether this filter lets everything through.
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// The include patterns, as given.
    pub fn include_patterns(&self) -> &[String] {
        &self.include
    }

    /// The exclude patterns, as given.
    pub fn exclude_patterns(&self) -> &[String] {
        &self.exclude
    }

    /// Whether the entry at `path` (relative to the tree root, `/`-separated) is taken.
    pub fn matches(&self, path: &str) -> bool {
        let included = self.include.is_empty() || hits(&self.include_set, path) || in_dir(&self.include_dirs, path);
        included && !hits(&self.exclude_set, path) && !in_dir(&self.exclude_dirs, path)
    }

    /// Whether everything under the directory `dir` (relative, without a trailing `/`) is
    /// excluded, so a walk need not descend into it.
    pub fn excludes_dir(&self, dir: &str) -> bool {
        // `tmp/**` matches `tmp/` (its `**` may be empty) but not `tmp`.
        !self.exclude.is_empty()
            && (hits(&self.exclude_set, dir)
                || hits(&self.exclude_dirs, dir)
                || self.exclude_set.is_match_candidate(&Candidate::from_bytes(format!("{dir}/").as_bytes())))
    }
}

/// Whether `set` matches `path` or one of its parent directories.
fn hits(set: &GlobSet, path: &str) -> bool {
    !set.is_empty() && (set.is_match_candidate(&Candidate::from_bytes(path.as_bytes())) || in_dir(set, path))
}

/// Whether one of the directories `path` lies in (not `path` itself) matches `set`.
fn in_dir(set: &GlobSet, path: &str) -> bool {
    !set.is_empty()
        && path
            .match_indices('/')
            .any(|(i, _)| i > 0 && set.is_match_candidate(&Candidate::from_bytes(&path.as_bytes()[..i])))
}

/// The patterns of one sort: those ending in `/` (`dirs_only`) or the others.
fn compile(patterns: &[&str], dirs_only: bool) -> Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for &pattern in patterns {
        if pattern.ends_with('/') != dirs_only {
            continue;
        }
        let invalid =
            |why: &str| Error::new(ErrorKind::Config, format!("the glob pattern {pattern:?} is invalid: {why}"));
        let trimmed = pattern.strip_suffix('/').unwrap_or(pattern);
        let full = if let Some(anchored) = trimmed.strip_prefix('/') {
            anchored.to_owned()
        } else if trimmed.contains('/') {
            trimmed.to_owned()
        } else {
            format!("**/{trimmed}")
        };
        if trimmed.is_empty() || full.is_empty() {
            return Err(invalid("it is empty"));
        }
        let glob = GlobBuilder::new(&full)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|e| invalid(&e.kind().to_string()))?;
        set.add(glob);
    }
    set.build().map_err(|e| Error::new(ErrorKind::Config, format!("the glob patterns {patterns:?} are invalid: {e}")))
}
