//! Redaction of recorded headers and query strings.

use std::borrow::Cow;

use super::defaults::{REDACTED_HEADERS, REDACTED_QUERY_PARAMS};

/// What a redacted value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Whether the header `name` must never be recorded. Header names are case-insensitive.
#[must_use]
pub fn is_redacted_header(name: &str) -> bool {
    REDACTED_HEADERS
        .iter()
        .any(|redacted| redacted.eq_ignore_ascii_case(name))
}

/// `query` with the value of every [`REDACTED_QUERY_PARAMS`] entry replaced by [`REDACTED`].
///
/// Parameter names are compared case-insensitively, so `Token=` is redacted like `token=`.
///
/// ```
/// use ledger::telemetry::redact::redact_query;
///
/// assert_eq!(
///     redact_query("page=2&token=s3cr3t"),
///     "page=2&token=REDACTED"
/// );
/// assert_eq!(redact_query("page=2"), "page=2");
/// ```
#[must_use]
pub fn redact_query(query: &str) -> Cow<'_, str> {
    let must_redact = |pair: &str| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        !value.is_empty()
            && REDACTED_QUERY_PARAMS
                .iter()
                .any(|param| param.eq_ignore_ascii_case(name))
    };
    if !query.split('&').any(must_redact) {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if must_redact(pair) => Cow::Owned(format!("{name}={REDACTED}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_only_listed_parameters() {
        let param = REDACTED_QUERY_PARAMS[0].to_ascii_uppercase();
        assert_eq!(
            redact_query(&format!("a=1&{param}=x&b=&{param}=")),
            format!("a=1&{param}={REDACTED}&b=&{param}=")
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let shouted = REDACTED_HEADERS[0].to_ascii_uppercase();
        assert!(is_redacted_header(&shouted));
        assert!(!is_redacted_header("x-harmless"));
    }
}
