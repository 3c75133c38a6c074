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
