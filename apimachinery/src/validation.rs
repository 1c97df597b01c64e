//! Name and value format checks, worded as upstream `k8s.io/apimachinery/pkg/util/validation`
//! (Kubernetes 1.33).
//!
//! Every function returns a list of human-readable problems; an empty list
//! means the value is valid. The messages are the exact strings upstream
//! produces, so callers can put them into a [`FieldError`](crate::FieldError)
//! detail (joined with `"; "` or `","` as upstream does at the call site) and
//! `kubectl` users see familiar text. Lengths are counted in bytes, as upstream
//! does with Go's `len`.

/// Maximum length of a DNS-1123 label (and of a DNS-1035 label).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Maximum length of a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Maximum length of a DNS-1035 label.
pub const DNS1035_LABEL_MAX_LENGTH: usize = 63;
/// Maximum length of the name part of a qualified name (label key).
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Maximum length of a label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_ERR_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// Upstream `MaxLenError`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Upstream `EmptyError`.
pub fn empty_error() -> String {
    "must be non-empty".to_string()
}

/// Upstream `InclusiveRangeError`.
pub fn inclusive_range_error(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream `RegexError`: `msg (e.g. 'a',  or 'b', regex used for validation is 're')`.
///
/// The doubled space before `or` is upstream's and kept on purpose.
pub fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(example);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(re);
    out.push_str("')");
    out
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn is_lower_alnum_or_dash(b: u8) -> bool {
    is_lower_alnum(b) || b == b'-'
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Matches `first (middle* last)?`-shaped patterns: non-empty, the first byte
/// satisfies `first`, the last byte satisfies `last` and everything in between
/// satisfies `middle`. A single byte must satisfy both `first` and `last`.
fn matches_shape(
    value: &str,
    first: fn(u8) -> bool,
    middle: fn(u8) -> bool,
    last: fn(u8) -> bool,
) -> bool {
    let bytes = value.as_bytes();
    match bytes {
        [] => false,
        [only] => first(*only) && last(*only),
        [head, inner @ .., tail] => first(*head) && last(*tail) && inner.iter().all(|b| middle(*b)),
    }
}

fn dns1123_label_matches(value: &str) -> bool {
    matches_shape(
        value,
        is_lower_alnum,
        is_lower_alnum_or_dash,
        is_lower_alnum,
    )
}

fn dns1123_subdomain_matches(value: &str) -> bool {
    value.split('.').all(dns1123_label_matches)
}

fn qualified_name_part_matches(value: &str) -> bool {
    matches_shape(value, is_alnum, is_name_char, is_alnum)
}

/// Checks a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes):
/// namespace names, most object names that become host names.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !dns1123_label_matches(value) {
        if dns1123_subdomain_matches(value) {
            // A valid subdomain but not a valid label: it must be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR_MSG,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Checks a DNS-1123 subdomain (dot-separated DNS-1123 labels, at most 253
/// bytes): the format of most object names.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !dns1123_subdomain_matches(value) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR_MSG,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Checks a DNS-1035 label (`[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 bytes):
/// Service names.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1035_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1035_LABEL_MAX_LENGTH));
    }
    if !matches_shape(
        value,
        |b| b.is_ascii_lowercase(),
        is_lower_alnum_or_dash,
        is_lower_alnum,
    ) {
        errs.push(regex_error(
            DNS1035_LABEL_ERR_MSG,
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// Checks a qualified name: an optional DNS-1123 subdomain prefix and `/`,
/// then a name of at most 63 bytes matching
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`. Label and annotation keys use
/// this format.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                errs.extend(
                    is_dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|msg| format!("prefix part {msg}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_ERR_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !qualified_name_part_matches(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Checks a label value: empty, or at most 63 bytes matching
/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !value.is_empty() && !qualified_name_part_matches(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Checks a port number (1..=65535).
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65535)]
    }
}

/// Checks a named port (`containerPort` names, Service `targetPort` names):
/// at most 15 bytes of `[-a-z0-9]`, at least one letter, no leading,
/// trailing or doubled hyphen.
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push(max_len_error(15));
    }
    if port.is_empty() || !port.bytes().all(is_lower_alnum_or_dash) {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if !port.bytes().any(|b| b.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL_REGEX_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn dns1123_label() {
        let long = "a".repeat(64);
        let cases: &[(&str, Vec<String>)] = &[
            ("a", vec![]),
            ("my-name", vec![]),
            ("123-abc", vec![]),
            ("0", vec![]),
            (&"a".repeat(63), vec![]),
            ("", vec![LABEL_REGEX_MSG.to_string()]),
            ("-a", vec![LABEL_REGEX_MSG.to_string()]),
            ("a-", vec![LABEL_REGEX_MSG.to_string()]),
            ("A", vec![LABEL_REGEX_MSG.to_string()]),
            ("a_b", vec![LABEL_REGEX_MSG.to_string()]),
            ("é", vec![LABEL_REGEX_MSG.to_string()]),
            ("a.b", vec!["must not contain dots".to_string()]),
            (
                &long,
                vec!["must be no more than 63 characters".to_string()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&is_dns1123_label(input), want, "input {input:?}");
        }
    }

    #[test]
    fn dns1123_subdomain() {
        let msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
        let long = format!("{}.{}", "a".repeat(63), "b".repeat(190));
        let cases: &[(&str, Vec<String>)] = &[
            ("example.com", vec![]),
            ("a", vec![]),
            ("a.b.c-d", vec![]),
            ("", vec![msg.to_string()]),
            (".a", vec![msg.to_string()]),
            ("a.", vec![msg.to_string()]),
            ("a..b", vec![msg.to_string()]),
            ("A.com", vec![msg.to_string()]),
            ("日本", vec![msg.to_string()]),
            (
                &long,
                vec!["must be no more than 253 characters".to_string()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&is_dns1123_subdomain(input), want, "input {input:?}");
        }
    }

    #[test]
    fn dns1035_label() {
        let msg = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
        let cases: &[(&str, bool)] = &[
            ("web", true),
            ("a", true),
            ("a1", true),
            ("1a", false),
            ("", false),
            ("a-", false),
            ("a.b", false),
        ];
        for (input, ok) in cases {
            let errs = is_dns1035_label(input);
            if *ok {
                assert!(errs.is_empty(), "input {input:?}: {errs:?}");
            } else {
                assert_eq!(errs, vec![msg.to_string()], "input {input:?}");
            }
        }
    }

    #[test]
    fn qualified_name() {
        let name_regex = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        let cases: &[(&str, Vec<String>)] = &[
            ("app", vec![]),
            ("MyName", vec![]),
            ("my.name_x-y", vec![]),
            ("example.com/app", vec![]),
            ("kubernetes.io/hostname", vec![]),
            (
                "",
                vec![
                    "name part must be non-empty".to_string(),
                    name_regex.to_string(),
                ],
            ),
            ("-app", vec![name_regex.to_string()]),
            ("ünï", vec![name_regex.to_string()]),
            (
                "/app",
                vec!["prefix part must be non-empty".to_string()],
            ),
            (
                "Example.com/app",
                vec!["prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string()],
            ),
            (
                "a/b/c",
                vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()],
            ),
            (
                &"a".repeat(64),
                vec!["name part must be no more than 63 characters".to_string()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&is_qualified_name(input), want, "input {input:?}");
        }
    }

    #[test]
    fn label_value() {
        let msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        let cases: &[(&str, Vec<String>)] = &[
            ("", vec![]),
            ("v1", vec![]),
            ("my_value", vec![]),
            ("1.2.3", vec![]),
            ("a b", vec![msg.to_string()]),
            ("_a", vec![msg.to_string()]),
            ("a/b", vec![msg.to_string()]),
            ("ä", vec![msg.to_string()]),
            (
                &"a".repeat(64),
                vec!["must be no more than 63 characters".to_string()],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&is_valid_label_value(input), want, "input {input:?}");
        }
    }

    #[test]
    fn ports() {
        assert!(is_valid_port_num(1).is_empty());
        assert!(is_valid_port_num(65535).is_empty());
        assert_eq!(
            is_valid_port_num(0),
            vec!["must be between 1 and 65535, inclusive".to_string()]
        );
        assert_eq!(is_valid_port_num(65536).len(), 1);

        let cases: &[(&str, usize)] = &[
            ("http", 0),
            ("web-8080", 0),
            ("a", 0),
            ("", 2),
            ("8080", 1),
            ("-http", 1),
            ("ht--tp", 1),
            ("HTTP", 2),
            ("a-very-long-port-name", 1),
        ];
        for (input, n) in cases {
            assert_eq!(is_valid_port_name(input).len(), *n, "input {input:?}");
        }
    }

    #[test]
    fn regex_error_shapes() {
        assert_eq!(
            regex_error("bad", "x+", &[]),
            "bad (regex used for validation is 'x+')"
        );
        assert_eq!(
            regex_error("bad", "x+", &["x"]),
            "bad (e.g. 'x', regex used for validation is 'x+')"
        );
    }
}
