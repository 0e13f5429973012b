//! Parsers for flag values shared by several subcommands (durations are
//! `ward_duration::parse` everywhere).

/// Parses a `--header` value, `Name: value`, into an HTTP header.
pub fn header(
    input: &str,
) -> anyhow::Result<(http::header::HeaderName, http::header::HeaderValue)> {
    use anyhow::Context;
    let (name, value) = input
        .split_once(':')
        .with_context(|| format!("--header {input:?}: expected `Name: value`"))?;
    Ok((
        name.trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header name"))?,
        value
            .trim()
            .parse()
            .with_context(|| format!("--header {input:?}: invalid header value"))?,
    ))
}
