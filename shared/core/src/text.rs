//! Text from outside (hooks' answers, AWS error messages, names in requests) made safe to
//! keep and to show: control characters removed and a bounded length, before it reaches
//! a record, a notification or a terminal.

/// The most bytes of outside text a record keeps in one place (a hook's reason, an error).
pub const MAX_TEXT_BYTES: usize = 1024;

/// `text` with every control character (newlines and escape sequences included) turned
/// into a space, cut to at most `max_bytes` bytes on a character boundary, with `…` when
/// something was cut.
pub fn clean(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes));
    for c in text.chars() {
        let c = if c.is_control() || invisible(c) {
            ' '
        } else {
            c
        };
        if out.len() + c.len_utf8() > max_bytes {
            // Room for the ellipsis (3 bytes) on a character boundary.
            while out.len() + '…'.len_utf8() > max_bytes {
                if out.pop().is_none() {
                    break;
                }
            }
            out.push('…');
            return out;
        }
        out.push(c);
    }
    out
}

/// How a record names who made a changing request: the identity its caller reported
/// (the CLI sends its STS caller identity), cleaned and bounded. It is what the caller
/// said, not a proof: CloudTrail's data events for Lambda Invoke are the authoritative
/// record of who invoked Cutover's functions.
pub fn requested_by(who: &str) -> String {
    format!("requested by {} (as its caller reported)", clean(who, 256))
}

/// Characters that change how the text around them reads without showing themselves:
/// bidirectional overrides and isolates, zero-width characters, the byte-order mark.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A value from a request as an error message quotes it: [`clean`], cut to `max_chars`
/// characters, in quotes.
pub fn shown(text: &str, max_chars: usize) -> String {
    let mut cut: String = text.chars().take(max_chars).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    format!("{:?}", clean(&cut, max_chars * 4 + 3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_go_and_length_is_bounded() {
        assert_eq!(
            clean("ok\x1b[31mred\nnext\ttab", 100),
            "ok [31mred next tab"
        );
        assert_eq!(clean("evil\u{202E}gpj.exe\u{200B}", 100), "evil gpj.exe ");
        let long = "é".repeat(2000);
        let c = clean(&long, MAX_TEXT_BYTES);
        assert!(c.len() <= MAX_TEXT_BYTES, "{}", c.len());
        assert!(c.ends_with('…'));
        assert_eq!(clean("short", 1024), "short");
        assert_eq!(clean("abcdef", 4), "a…");
    }

    #[test]
    fn shown_quotes_a_bounded_clean_excerpt() {
        assert_eq!(shown("a\nb", 10), "\"a b\"");
        let s = shown(&"x".repeat(500), 20);
        assert_eq!(s, format!("\"{}…\"", "x".repeat(20)));
    }
}
