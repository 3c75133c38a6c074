//! Small value parsers shared by the directive handlers.

/// Parses `On`/`Off` (case-insensitive) as httpd's FLAG directives do.
pub fn parse_on_off(directive: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!(
            "{directive} must be one of: Off | On (got '{value}')"
        )),
    }
}

/// Splits `name=value`; the name may not contain whitespace.
pub fn split_option(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    (!name.is_empty() && !name.contains(char::is_whitespace)).then_some((name, value))
}

/// Reads the next word of a directive line as httpd's `ap_getword_conf`
/// does, and advances `line` past it and the blanks after it: a word that
/// starts with `'` or `"` runs to the matching quote (which is dropped),
/// and inside it `\` before that quote or before `\` escapes it; any other
/// word runs to the next blank, `\\` still standing for `\`. Quotes inside a
/// word (`home='/srv'`) are kept: they are not at its start.
pub fn next_conf_word(line: &mut &str) -> String {
    let s = line.trim_start_matches(is_conf_space);
    let bytes = s.as_bytes();
    let quote = match bytes.first() {
        Some(&q @ (b'\'' | b'"')) => Some(q),
        _ => None,
    };
    let (body, rest) = match quote {
        Some(q) => {
            let mut end = 1;
            while end < bytes.len() && bytes[end] != q {
                let escaped = bytes[end] == b'\\'
                    && matches!(bytes.get(end + 1), Some(&c) if c == q || c == b'\\');
                end += if escaped { 2 } else { 1 };
            }
            let after = if end < bytes.len() { end + 1 } else { end };
            (&s[1..end], &s[after..])
        }
        None => {
            let end = s.find(is_conf_space).unwrap_or(s.len());
            (&s[..end], &s[end..])
        }
    };
    *line = rest.trim_start_matches(is_conf_space);
    unescape_conf(body, quote)
}

/// httpd's `apr_isspace`: the C locale's blanks.
fn is_conf_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Drops the `\` of `\\` and, in a quoted word, of `\QUOTE`.
fn unescape_conf(body: &str, quote: Option<u8>) -> String {
    let quote = quote.map(char::from);
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let escaped =
            c == '\\' && matches!(chars.peek(), Some(&n) if n == '\\' || Some(n) == quote);
        if escaped {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits a raw directive line the way mod_wsgi reads its directives: the
/// first `positional` words (paths, group names) with [`next_conf_word`],
/// then `name=value` options, where the name runs to the first `=` and the
/// value is read with [`next_conf_word`], so `home='/srv/app'` gives
/// `home` = `/srv/app`. Options come back as `name=value` words for
/// [`split_option`]. A word that is not an option (`'home=/tmp'`, quoted
/// whole, has the name `'home`; `flag` has no `=`) is returned as read and
/// ends the split, so the directive's parser rejects it by name.
pub fn option_words(line: &str, positional: usize) -> Vec<String> {
    let mut rest = line.trim_start_matches(is_conf_space);
    let mut words = Vec::new();
    while words.len() < positional && !rest.is_empty() {
        words.push(next_conf_word(&mut rest));
    }
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || is_conf_space(c))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() || !rest[name_end..].starts_with('=') {
            let end = rest.find(is_conf_space).unwrap_or(rest.len());
            words.push(rest[..end].to_owned());
            break;
        }
        let mut value = &rest[name_end + 1..];
        let value_word = next_conf_word(&mut value);
        words.push(format!("{name}={value_word}"));
        rest = value;
    }
    words
}

/// The explanation for an option quoted as a whole (`'home=/tmp'`, read as
/// the name `'home`): only its value may be quoted.
pub fn quoted_whole(name: &str, value: &str) -> Option<String> {
    let quote = name.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let (bare_name, bare_value) = (&name[1..], value.trim_end_matches(quote));
    Some(format!(
        "option {name}={value} is quoted as a whole; only its value may be quoted: \
         {bare_name}={quote}{bare_value}{quote}"
    ))
}
