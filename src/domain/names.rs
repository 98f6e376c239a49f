//! Person names as providers send them.
//!
//! Rule: names are trimmed of leading and trailing white space (non-breaking spaces
//! included), NFC-normalised, and cut to [`NAME_MAX_CHARS`] characters at a character
//! boundary. Emails and identifiers are never cut; they are refused when too long.

use unicode_normalization::UnicodeNormalization;

/// Longest first or last name kept, in characters (not bytes).
pub const NAME_MAX_CHARS: usize = 100;

/// Cleans one name claim; `None` when nothing usable remains.
pub fn person_name(raw: Option<&str>) -> Option<String> {
    let cleaned: String = raw?
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .nfc()
        .filter(|c| !c.is_control() && !is_disguising(*c))
        .take(NAME_MAX_CHARS)
        .collect();
    let cleaned = cleaned.trim_end().to_owned();
    // A name of nothing but marks or invisible characters is no name.
    cleaned
        .chars()
        .any(char::is_alphanumeric)
        .then_some(cleaned)
}

/// Bidirectional overrides and isolates, zero-width space and byte-order mark: they can
/// make one name look like another. (Joiners, needed by several scripts, are kept.)
fn is_disguising(c: char) -> bool {
    matches!(c, '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Splits a full `name` into first and last names: the last word is the last name; a
/// single word is a first name with an empty last name.
pub fn split_full_name(full: &str) -> (String, String) {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.as_slice() {
        [] => (String::new(), String::new()),
        [one] => (person_name(Some(one)).unwrap_or_default(), String::new()),
        [first @ .., last] => (
            person_name(Some(&first.join(" "))).unwrap_or_default(),
            person_name(Some(last)).unwrap_or_default(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_including_non_breaking_spaces() {
        assert_eq!(person_name(Some("\u{a0} Zoë \t")), Some("Zoë".into()));
        assert_eq!(person_name(Some("   ")), None);
        assert_eq!(person_name(None), None);
    }

    #[test]
    fn invisible_or_direction_tricks_are_removed_and_empty_names_refused() {
        assert_eq!(person_name(Some("\u{200b}")), None);
        assert_eq!(person_name(Some("\u{301}\u{301}")), None);
        assert_eq!(person_name(Some("Ev\u{202e}il")), Some("Evil".into()));
        // Right-to-left scripts themselves are kept exactly.
        assert_eq!(
            person_name(Some("\u{5e9}\u{5e8}\u{5d4}")),
            Some("\u{5e9}\u{5e8}\u{5d4}".into())
        );
    }

    #[test]
    fn names_are_nfc_normalised() {
        // "e" followed by a combining acute accent becomes one "é".
        assert_eq!(
            person_name(Some("Ame\u{301}lie")),
            Some("Am\u{e9}lie".into())
        );
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let long = "ß".repeat(NAME_MAX_CHARS + 20);
        let cut = person_name(Some(&long)).unwrap();
        assert_eq!(cut.chars().count(), NAME_MAX_CHARS);
    }

    #[test]
    fn full_names_split_on_the_last_word() {
        assert_eq!(
            split_full_name("Mary Ann Smith"),
            ("Mary Ann".into(), "Smith".into())
        );
        assert_eq!(
            split_full_name("Madonna"),
            ("Madonna".into(), String::new())
        );
        assert_eq!(split_full_name("  "), (String::new(), String::new()));
    }
}
