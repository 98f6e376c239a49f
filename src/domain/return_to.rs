//! Where to send the browser after sign-in: only a path on our own site.

/// A validated relative path such as `/courses/42?tab=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnTo(String);

const MAX_LEN: usize = 2048;

impl ReturnTo {
    /// Accepts only an absolute path on this site: it starts with one `/`, has no scheme,
    /// no authority (`//host`), no backslash, no control characters, and does not turn into
    /// one of those once percent-decoded. Anything else yields `None`.
    pub fn parse(raw: &str) -> Option<ReturnTo> {
        if raw.is_empty() || raw.len() > MAX_LEN || !is_safe_path(raw, true) {
            return None;
        }
        let decoded = percent_decode(raw)?;
        if !is_safe_path(&decoded, false) {
            return None;
        }
        Some(ReturnTo(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_safe_path(p: &str, raw: bool) -> bool {
    let path = p.split(['?', '#']).next().unwrap_or("");
    p.starts_with('/')
        && (!raw || p.is_ascii())
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
        // No empty segment (a browser may resolve "/.//host" to "//host") and no dot segments.
        && !path.contains("//")
        && !path.split('/').any(|seg| seg == "." || seg == "..")
}

/// Decodes percent escapes repeatedly (to defeat double encoding); `None` if malformed.
fn percent_decode(raw: &str) -> Option<String> {
    let mut current = raw.to_owned();
    for _ in 0..3 {
        if !current.contains('%') {
            return Some(current);
        }
        let bytes = current.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        let next = String::from_utf8_lossy(&out).into_owned();
        if next == current {
            return Some(current);
        }
        current = next;
    }
    // Still encoded after three rounds: nobody needs that; refuse.
    (!current.contains('%')).then_some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_kept() {
        for ok in ["/", "/courses/42", "/a?b=c&d=%2Fe", "/caf%C3%A9"] {
            assert_eq!(ReturnTo::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn anything_that_leaves_the_site_is_refused() {
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "javascript:alert(1)",
            "/%2Fevil.example",
            "/%252Fevil.example",
            "/%5Cevil.example",
            "/\tevil",
            "%2F%2Fevil.example",
            "/%zz",
            "/.//evil.example",
            "/..//evil.example",
            "/a/../b",
            "/%2525252f%2525252fevil.example",
            "/caf\u{e9}",
            "/x\u{202e}",
            "",
        ] {
            assert!(ReturnTo::parse(bad).is_none(), "{bad:?} accepted");
        }
    }
}
