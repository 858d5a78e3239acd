//! The virtual path grammar (docs/design.md §3) and its printing.
//!
//! Parsing is purely lexical and yields an area plus normalised components that contain no `.`,
//! `..`, empty parts, separators or NULs. The OS-level guarantee that a component sequence stays
//! beneath its area (symlinks included) comes from resolving it with a capability handle
//! (`cap_std::fs::Dir`), see `sandbox::Sandbox::area_dir`.

use std::fmt;

/// The area a virtual path lies in (docs/design.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// `wxfile://usr/...`: the only area a mini-program may write.
    Usr,
    /// `wxfile://tmp_<name>`: created by the host only.
    Tmp,
    /// `wxfile://store_<name>`: created by saveFile only.
    Store,
    /// `<rel>` or `/<rel>`: the read-only code package.
    Package,
}

impl Area {
    /// Whether a mini-program may write in this area (only `usr`).
    pub fn writable(self) -> bool {
        self == Area::Usr
    }
    /// On-disk directory name under the sandbox.
    pub fn dir_name(self) -> &'static str {
        match self {
            Area::Usr => "usr",
            Area::Tmp => "tmp",
            Area::Store => "store",
            Area::Package => "",
        }
    }
}

/// How virtual paths are spelled: WeChat's two (`wxfile://`, devtools' `http://`) and one per
/// other platform (docs/platforms/). A WeChat sandbox accepts both of WeChat's on input; every
/// other platform accepts its own only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `wxfile://usr/...`, as on iOS and Android (the default).
    #[default]
    Wxfile,
    /// `http://usr/...`, as in WeChat DevTools.
    Http,
    /// Alipay: `https://usr/…`, temp `https://resource/apml<name>`, cache `https://resource/store_<name>`.
    Https,
    /// Douyin: `ttfile://user/…`, temp `ttfile://temp/<name>`.
    Ttfile,
    /// Baidu: `bdfile://usr/…`, `bdfile://tmp/<name>`, `bdfile://store/<name>`.
    Bdfile,
    /// QQ: `qqfile://usr/…`, `qqfile://tmp_<name>`, `qqfile://store_<name>`.
    Qqfile,
}

/// One spelling: the scheme, then the name of the user area and the prefixes of the flat areas.
struct Layout {
    scheme: &'static str,
    usr: &'static str,
    tmp: &'static str,
    store: &'static str,
}

impl Protocol {
    fn layout(self) -> Layout {
        let (scheme, usr, tmp, store) = match self {
            Protocol::Wxfile => ("wxfile://", "usr", "tmp_", "store_"),
            Protocol::Http => ("http://", "usr", "tmp/", "store/"),
            Protocol::Https => ("https://", "usr", "resource/apml", "resource/store_"),
            Protocol::Ttfile => ("ttfile://", "user", "temp/", "store/"),
            Protocol::Bdfile => ("bdfile://", "usr", "tmp/", "store/"),
            Protocol::Qqfile => ("qqfile://", "usr", "tmp_", "store_"),
        };
        Layout { scheme, usr, tmp, store }
    }

    /// The protocol whose scheme is `scheme` (`"wxfile"`, `"https"`, ...: a platform's
    /// `protocol.scheme` in docs/platforms/dialects.json).
    pub fn of_scheme(scheme: &str) -> Option<Protocol> {
        const ALL: [Protocol; 6] =
            [Protocol::Wxfile, Protocol::Http, Protocol::Https, Protocol::Ttfile, Protocol::Bdfile, Protocol::Qqfile];
        ALL.into_iter().find(|p| p.layout().scheme.strip_suffix("://") == Some(scheme))
    }

    /// The spellings a sandbox of this protocol reads.
    fn accepted(self) -> &'static [Protocol] {
        match self {
            Protocol::Wxfile | Protocol::Http => &[Protocol::Wxfile, Protocol::Http],
            Protocol::Https => &[Protocol::Https],
            Protocol::Ttfile => &[Protocol::Ttfile],
            Protocol::Bdfile => &[Protocol::Bdfile],
            Protocol::Qqfile => &[Protocol::Qqfile],
        }
    }
}

/// Why a path string is not a usable path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not in the grammar at all (`./x`, `wxfile://other`, NUL, backslash, empty).
    Invalid,
    /// `..` would climb above its area.
    Escape,
    /// The bare protocol root, `wxfile://`: exists but can be neither listed nor written.
    Root,
    /// A component or the whole path is too long, or the path is too deep.
    TooLong,
}

/// Longest component (NAME_MAX) and longest path string we accept.
pub const MAX_COMPONENT: usize = 255;
/// Longest path string we accept, in bytes.
pub const MAX_PATH: usize = 4096;
/// Most components a path may have beneath its area, and most bytes its components may take
/// joined by `/`. Every call that can deepen a tree checks them (a rename or unzip for the whole
/// subtree it moves), so every tree in a sandbox can be walked and removed with a bounded stack,
/// a bounded number of fds and paths the OS accepts in one string (PATH_MAX is 4,096 with the
/// sandbox's own directory in front).
pub const MAX_DEPTH: usize = 64;
/// Most bytes the components beneath an area may take, joined by `/` (see [`MAX_DEPTH`]).
pub const MAX_REL_PATH: usize = 2048;

/// A parsed virtual path: its area and the components beneath the area's root.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VPath {
    /// The area.
    pub area: Area,
    /// Normalised components beneath the area's root (none for the root itself).
    pub parts: Vec<String>,
}

impl VPath {
    /// Whether this is the area's root itself.
    pub fn is_area_root(&self) -> bool {
        self.parts.is_empty()
    }

    /// The path relative to the area directory, for capability-relative calls; `.` for the root.
    pub fn rel(&self) -> String {
        if self.parts.is_empty() {
            ".".to_string()
        } else {
            self.parts.join("/")
        }
    }

    /// The parent directory; `None` for an area root.
    pub fn parent(&self) -> Option<VPath> {
        if self.parts.is_empty() {
            return None;
        }
        Some(VPath { area: self.area, parts: self.parts[..self.parts.len() - 1].to_vec() })
    }

    /// The last component; `None` for an area root.
    pub fn name(&self) -> Option<&str> {
        self.parts.last().map(|s| s.as_str())
    }

    /// This path with one more component (`child` is taken as one, unchecked).
    pub fn join(&self, child: &str) -> VPath {
        let mut parts = self.parts.clone();
        parts.push(child.to_string());
        VPath { area: self.area, parts }
    }

    /// Whether this path, with a subtree `extra_depth` components deep and `extra_len` bytes long
    /// hung beneath it, stays within [`MAX_DEPTH`] and [`MAX_REL_PATH`].
    pub fn within_limits(&self, extra_depth: usize, extra_len: usize) -> bool {
        let len: usize = self.parts.iter().map(|p| p.len() + 1).sum::<usize>() + extra_len;
        self.parts.len() + extra_depth <= MAX_DEPTH && len <= MAX_REL_PATH + 1
    }

    /// Whether `self` is `other` or lies beneath it.
    pub fn starts_with(&self, other: &VPath) -> bool {
        self.area == other.area && self.parts.starts_with(&other.parts)
    }

    /// The path as a mini-program sees it, in the given protocol.
    pub fn display(&self, protocol: Protocol) -> String {
        let rel = self.parts.join("/");
        let l = protocol.layout();
        match self.area {
            Area::Usr if rel.is_empty() => format!("{}{}", l.scheme, l.usr),
            Area::Usr => format!("{}{}/{rel}", l.scheme, l.usr),
            Area::Tmp => format!("{}{}{rel}", l.scheme, l.tmp),
            Area::Store => format!("{}{}{rel}", l.scheme, l.store),
            Area::Package => format!("/{rel}"),
        }
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display(Protocol::Wxfile))
    }
}

/// Parse a path a WeChat mini-program passed. Both of WeChat's protocols are accepted on input
/// whatever the sandbox's configured one: devtools-era code and device code may meet in one package.
pub fn parse(input: &str) -> Result<VPath, PathError> {
    parse_in(input, Protocol::Wxfile)
}

/// Parse a path in the spelling(s) a sandbox of `protocol` reads (see [`Protocol`]).
pub fn parse_in(input: &str, protocol: Protocol) -> Result<VPath, PathError> {
    if input.is_empty() || input.contains('\0') || input.contains('\\') {
        return Err(PathError::Invalid);
    }
    if input.len() > MAX_PATH {
        return Err(PathError::TooLong);
    }
    for p in protocol.accepted() {
        let l = p.layout();
        let Some(rest) = input.strip_prefix(l.scheme) else { continue };
        if rest.is_empty() || rest == "/" {
            return Err(PathError::Root);
        }
        if let Some(after) = rest.strip_prefix(l.usr) {
            if after.is_empty() || after.starts_with('/') {
                return normalise(Area::Usr, after);
            }
        }
        if let Some(name) = rest.strip_prefix(l.tmp) {
            return flat(Area::Tmp, name);
        }
        if let Some(name) = rest.strip_prefix(l.store) {
            return flat(Area::Store, name);
        }
        return Err(PathError::Invalid);
    }
    if input.contains("://") {
        return Err(PathError::Invalid);
    }
    // Douyin documents `./<rel>` for package files (docs/platforms/douyin.md).
    let input = match (protocol, input.strip_prefix("./")) {
        (Protocol::Ttfile, Some(rel)) if !rel.is_empty() => rel,
        _ => input,
    };
    // Code package: `a/b` and `/a/b`; `./a` and `../a` are invalid (unlike Node.js).
    if input.starts_with("./") || input.starts_with("../") || input == "." || input == ".." {
        return Err(PathError::Invalid);
    }
    normalise(Area::Package, input)
}

/// tmp_ and store_ files live flat in their area: exactly one ordinary component.
fn flat(area: Area, name: &str) -> Result<VPath, PathError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(PathError::Invalid);
    }
    if name.len() > MAX_COMPONENT {
        return Err(PathError::TooLong);
    }
    Ok(VPath { area, parts: vec![name.to_string()] })
}

fn normalise(area: Area, rest: &str) -> Result<VPath, PathError> {
    let mut parts: Vec<String> = Vec::new();
    for comp in rest.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escape);
                }
            }
            c if c.len() > MAX_COMPONENT => return Err(PathError::TooLong),
            c => parts.push(c.to_string()),
        }
    }
    let vp = VPath { area, parts };
    if !vp.within_limits(0, 0) {
        return Err(PathError::TooLong);
    }
    Ok(vp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (Area, String) {
        let p = parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"));
        (p.area, p.parts.join("/"))
    }

    #[test]
    fn grammar() {
        assert_eq!(ok("wxfile://usr"), (Area::Usr, "".into()));
        assert_eq!(ok("wxfile://usr/"), (Area::Usr, "".into()));
        assert_eq!(ok("wxfile://usr/a//b/./c"), (Area::Usr, "a/b/c".into()));
        assert_eq!(ok("wxfile://usr/a/../b"), (Area::Usr, "b".into()));
        assert_eq!(ok("wxfile://tmp_abc.png"), (Area::Tmp, "abc.png".into()));
        assert_eq!(ok("wxfile://store_x.pdf"), (Area::Store, "x.pdf".into()));
        assert_eq!(ok("http://usr/a"), (Area::Usr, "a".into()));
        assert_eq!(ok("http://tmp/x.txt"), (Area::Tmp, "x.txt".into()));
        assert_eq!(ok("http://store/x.txt"), (Area::Store, "x.txt".into()));
        assert_eq!(ok("/data/c.json"), (Area::Package, "data/c.json".into()));
        assert_eq!(ok("data/c.json"), (Area::Package, "data/c.json".into()));
        // Percent-encoding is not decoded: `%2e%2e` is an ordinary file name inside usr.
        assert_eq!(ok("wxfile://usr/%2e%2e/x"), (Area::Usr, "%2e%2e/x".into()));
    }

    #[test]
    fn escapes_and_junk_are_rejected() {
        for s in [
            "wxfile://usr/..",
            "wxfile://usr/../x",
            "wxfile://usr/a/../../x",
            "wxfile://usr/../../../../etc/hostname",
            "/../etc/passwd",
            "a/../../b",
            "http://usr/../x",
        ] {
            assert_eq!(parse(s), Err(PathError::Escape), "{s}");
        }
        for s in [
            "",
            "./a",
            "../a",
            ".",
            "..",
            "wxfile://usr\\..\\x",
            "wxfile://usr/a\0b",
            "wxfile://usrx",
            "wxfile://other/a",
            "wxfile://tmp_",
            "wxfile://tmp_a/b",
            "wxfile://tmp_..",
            "wxfile://store_../x",
            "http://tmp/a/b",
            "http://etc/passwd",
            "file:///etc/passwd",
            "C:\\Windows",
        ] {
            assert_eq!(parse(s), Err(PathError::Invalid), "{s:?}");
        }
        assert_eq!(parse("wxfile://"), Err(PathError::Root));
        assert_eq!(parse(&format!("wxfile://usr/{}", "a".repeat(256))), Err(PathError::TooLong));
        let deep = |n: usize| format!("wxfile://usr{}", "/d".repeat(n));
        assert_eq!(parse(&deep(MAX_DEPTH)).unwrap().parts.len(), MAX_DEPTH);
        assert_eq!(parse(&deep(MAX_DEPTH + 1)), Err(PathError::TooLong));
        let long = |n: usize| format!("wxfile://usr{}", format!("/{}", "x".repeat(199)).repeat(n));
        assert!(parse(&long(10)).is_ok(), "2,000 bytes beneath usr");
        assert_eq!(parse(&long(11)), Err(PathError::TooLong));
    }

    #[test]
    fn display_round_trips() {
        for s in ["wxfile://usr/a/b", "wxfile://tmp_x.png", "wxfile://store_y", "wxfile://usr"] {
            assert_eq!(parse(s).unwrap().display(Protocol::Wxfile), s);
        }
        assert_eq!(parse("wxfile://tmp_x.png").unwrap().display(Protocol::Http), "http://tmp/x.png");
        assert_eq!(parse("wxfile://usr").unwrap().display(Protocol::Http), "http://usr");
    }

    #[test]
    fn every_platform_reads_its_own_spelling_only() {
        use Protocol::*;
        let cases = [
            (Https, "https://usr/a/b", "https://resource/apmlx.png", "https://resource/store_y.txt"),
            (Ttfile, "ttfile://user/a/b", "ttfile://temp/x.png", "ttfile://store/y.txt"),
            (Bdfile, "bdfile://usr/a/b", "bdfile://tmp/x.png", "bdfile://store/y.txt"),
            (Qqfile, "qqfile://usr/a/b", "qqfile://tmp_x.png", "qqfile://store_y.txt"),
        ];
        for (p, usr, tmp, store) in cases {
            for (s, area, rel) in [(usr, Area::Usr, "a/b"), (tmp, Area::Tmp, "x.png"), (store, Area::Store, "y.txt")] {
                let vp = parse_in(s, p).unwrap_or_else(|e| panic!("{s}: {e:?}"));
                assert_eq!((vp.area, vp.rel().as_str()), (area, rel), "{s}");
                assert_eq!(vp.display(p), s);
                // Never read by a WeChat sandbox, and WeChat's spelling never read by this one.
                assert_eq!(parse(s), Err(PathError::Invalid), "{s}");
            }
            assert_eq!(parse_in("wxfile://usr/a", p), Err(PathError::Invalid));
            assert_eq!(parse_in(&usr.replace("/a/b", "/../x"), p), Err(PathError::Escape));
            assert_eq!(parse_in("/data/c.json", p).unwrap().area, Area::Package);
        }
        assert_eq!(parse_in("https://resource/other.png", Https), Err(PathError::Invalid));
        assert_eq!(parse_in("ttfile://usr/a", Ttfile), Err(PathError::Invalid));
        assert_eq!(parse_in("ttfile://", Ttfile), Err(PathError::Root));
        assert_eq!(parse_in("./game/a.json", Ttfile).unwrap().rel(), "game/a.json");
        assert_eq!(parse_in("./a.json", Bdfile), Err(PathError::Invalid));
    }
}
