//! Field selectors, as upstream `k8s.io/apimachinery/pkg/fields`.
//!
//! A field selector is a comma-separated list of `field=value`, `field==value`
//! or `field!=value` terms (`kubectl --field-selector`, the `fieldSelector`
//! query parameter). In values, `\,`, `\=` and `\\` escape the comma, the
//! equals sign and the backslash; any other escape is an error. As upstream,
//! nothing is trimmed: `a = b` is the field `"a "` with the value `" b"`, which
//! the apiserver then rejects as an unsupported field.
//!
//! Terms are kept in the order of their sorted source text (upstream sorts
//! them before parsing), and `==` is stored as `=`, so `Display` gives the
//! upstream canonical string. A field that an object does not have reads as
//! the empty string, so `spec.nodeName=` selects unscheduled pods.
//!
//! Which fields are selectable depends on the resource; the apiserver checks
//! [`FieldSelector::requirements`] (or calls
//! [`FieldSelector::check_supported`]) and rejects unknown ones.

use std::collections::BTreeMap;
use std::fmt;

/// Errors from parsing or checking a field selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldSelectorError {
    /// A term has no `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    CannotUnderstand { selector: String, term: String },
    /// A backslash is followed by something other than `\`, `,` or `=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A value contains a bare `,` or `=` that is not escaped.
    #[error("invalid field selector: unescaped character in value: {0:?}")]
    UnescapedCharacter(char),
    /// The field is not selectable for this resource (upstream wording of the
    /// apiserver's field label conversion error).
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// The operator of a field selector term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldOperator {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

impl FieldOperator {
    /// `=` or `!=`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldOperator::Equals => "=",
            FieldOperator::NotEquals => "!=",
        }
    }
}

/// One term of a field selector; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

impl FieldRequirement {
    /// Whether a field whose value is `actual` satisfies this term.
    pub fn matches_value(&self, actual: &str) -> bool {
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl fmt::Display for FieldRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            self.field,
            self.operator.as_str(),
            escape_value(&self.value)
        )
    }
}

/// A field selector: the AND of its terms. No terms selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    /// Builds a selector from terms, kept in the given order.
    pub fn new(requirements: Vec<FieldRequirement>) -> FieldSelector {
        FieldSelector { requirements }
    }

    /// A one-term `field=value` selector (upstream `OneTermEqualSelector`), e.g.
    /// the kubelet's `spec.nodeName=<node>`.
    pub fn one_term_equal(field: &str, value: &str) -> FieldSelector {
        FieldSelector::new(vec![FieldRequirement {
            field: field.to_string(),
            operator: FieldOperator::Equals,
            value: value.to_string(),
        }])
    }

    /// Parses `metadata.name=x,spec.nodeName!=` (upstream `fields.ParseSelector`).
    pub fn parse(selector: &str) -> Result<FieldSelector, FieldSelectorError> {
        let mut terms = split_terms(selector);
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms {
            if term.is_empty() {
                continue;
            }
            let Some((field, operator, raw_value)) = split_term(term) else {
                return Err(FieldSelectorError::CannotUnderstand {
                    selector: selector.to_string(),
                    term: term.to_string(),
                });
            };
            let value = unescape_value(raw_value)?;
            // Upstream drops terms that name no field and no value (`=`, `!=`).
            if field.is_empty() && value.is_empty() {
                continue;
            }
            requirements.push(FieldRequirement {
                field: field.to_string(),
                operator,
                value,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The terms, for checking which fields are used.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector has no terms.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches, given a getter for its selectable fields. A
    /// field the getter does not know (`None`) reads as the empty string, as
    /// upstream `fields.Set.Get` does.
    pub fn matches<F, S>(&self, get: F) -> bool
    where
        F: Fn(&str) -> Option<S>,
        S: AsRef<str>,
    {
        self.requirements.iter().all(|r| match get(&r.field) {
            Some(v) => r.matches_value(v.as_ref()),
            None => r.matches_value(""),
        })
    }

    /// [`matches`](Self::matches) against a precomputed map of field values
    /// (upstream `fields.Set`).
    pub fn matches_map(&self, fields: &BTreeMap<String, String>) -> bool {
        self.matches(|f| fields.get(f))
    }

    /// If some term requires `field` to equal one value, that value (upstream
    /// `RequiresExactMatch`; the first such term wins).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Checks that every term uses one of `supported`; otherwise returns
    /// [`FieldSelectorError::UnsupportedField`] naming the first unknown field
    /// (`field label not supported: spec.foo`).
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), FieldSelectorError> {
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(FieldSelectorError::UnsupportedField(r.field.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for FieldSelector {
    type Err = FieldSelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldSelector::parse(s)
    }
}

/// Escapes `\`, `,` and `=` in a value (upstream `fields.EscapeValue`).
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Reverses [`escape_value`]; a bare `,` or `=` or an unknown escape is an
/// error (upstream `fields.UnescapeValue`).
pub fn unescape_value(value: &str) -> Result<String, FieldSelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut in_slash = false;
    for c in value.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => return Err(FieldSelectorError::InvalidEscape(format!("\\{c}"))),
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(FieldSelectorError::UnescapedCharacter(c)),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(FieldSelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

/// Splits on commas that are not escaped by a backslash.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at its first operator; at each position `!=` and `==` are
/// tried before `=`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, operator) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], operator, value));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_and_restring() {
        let cases = [
            ("", ""),
            ("metadata.name=x", "metadata.name=x"),
            ("metadata.name==x", "metadata.name=x"),
            ("spec.nodeName!=", "spec.nodeName!="),
            ("spec.nodeName=", "spec.nodeName="),
            ("b=1,a=2", "a=2,b=1"),
            ("a=1,,b=2,", "a=1,b=2"),
            ("a=x\\,y", "a=x\\,y"),
            ("a=x\\=y", "a=x\\=y"),
            ("a=x\\\\y", "a=x\\\\y"),
            ("a=!b", "a=!b"),
            ("=", ""),
            ("!=", ""),
            ("=x", "=x"),
            ("a =b", "a =b"),
            ("ä=ö", "ä=ö"),
        ];
        for (input, want) in cases {
            let sel = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.to_string(), want, "input {input:?}");
        }
    }

    #[test]
    fn parse_structure() {
        let sel = FieldSelector::parse("status.phase!=Running,metadata.name==a\\,b").unwrap();
        assert_eq!(
            sel.requirements(),
            &[
                FieldRequirement {
                    field: "metadata.name".to_string(),
                    operator: FieldOperator::Equals,
                    value: "a,b".to_string(),
                },
                FieldRequirement {
                    field: "status.phase".to_string(),
                    operator: FieldOperator::NotEquals,
                    value: "Running".to_string(),
                },
            ]
        );
        assert!(FieldSelector::parse("").unwrap().is_everything());
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("a", "invalid selector: 'a'; can't understand 'a'"),
            ("a=1,b", "invalid selector: 'a=1,b'; can't understand 'b'"),
            (
                "a=b=c",
                "invalid field selector: unescaped character in value: '='",
            ),
            (
                "a=b\\x",
                "invalid field selector: invalid escape sequence: \\x",
            ),
            (
                "a=b\\",
                "invalid field selector: invalid escape sequence: \\",
            ),
            (
                "a=\\é",
                "invalid field selector: invalid escape sequence: \\é",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                FieldSelector::parse(input).unwrap_err().to_string(),
                want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn matching() {
        let pod = fields(&[
            ("metadata.name", "web-1"),
            ("spec.nodeName", "n1"),
            ("status.phase", "Running"),
        ]);
        let unscheduled = fields(&[("metadata.name", "web-2")]);
        let cases = [
            ("", true, true),
            ("metadata.name=web-1", true, false),
            ("spec.nodeName=n1", true, false),
            ("spec.nodeName=", false, true),
            ("spec.nodeName!=", true, false),
            ("status.phase!=Running", false, true),
            ("metadata.name=web-1,status.phase=Running", true, false),
            ("unknown.field=", true, true),
        ];
        for (selector, want_pod, want_unscheduled) in cases {
            let sel = FieldSelector::parse(selector).unwrap();
            assert_eq!(sel.matches_map(&pod), want_pod, "{selector:?} vs pod");
            assert_eq!(
                sel.matches_map(&unscheduled),
                want_unscheduled,
                "{selector:?} vs unscheduled"
            );
        }
        // A getter-based match, as the apiserver does on typed objects.
        let getter = |f: &str| match f {
            "metadata.name" => Some("x".to_string()),
            _ => None,
        };
        assert!(FieldSelector::parse("metadata.name=x")
            .unwrap()
            .matches(getter));
        let dyn_getter: &dyn Fn(&str) -> Option<String> = &getter;
        assert!(!FieldSelector::parse("metadata.name=y")
            .unwrap()
            .matches(dyn_getter));
    }

    #[test]
    fn supported_and_exact_match() {
        let sel = FieldSelector::parse("spec.nodeName=n1,metadata.name!=x").unwrap();
        assert_eq!(sel.requires_exact_match("spec.nodeName"), Some("n1"));
        assert_eq!(sel.requires_exact_match("metadata.name"), None);
        assert!(sel
            .check_supported(&["metadata.name", "spec.nodeName"])
            .is_ok());
        assert_eq!(
            sel.check_supported(&["metadata.name"])
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.nodeName"
        );
        assert_eq!(
            FieldSelector::one_term_equal("spec.nodeName", "n1").to_string(),
            "spec.nodeName=n1"
        );
    }

    #[test]
    fn escape_roundtrip() {
        for value in ["", "plain", "a,b", "a=b", "a\\b", "\\,=", "ünï"] {
            assert_eq!(unescape_value(&escape_value(value)).unwrap(), value);
        }
    }

    /// Short inputs over an adversarial alphabet: no panics, and the printed
    /// form of a parsed selector parses back to the same terms.
    #[test]
    fn exhaustive_short_inputs_roundtrip() {
        let alphabet = ["a", "=", "!", ",", "\\", "é", " "];
        let mut inputs = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for piece in alphabet {
                    next.push(format!("{prefix}{piece}"));
                }
            }
            inputs.extend(next.iter().cloned());
            frontier = next;
        }
        for input in &inputs {
            let Ok(sel) = FieldSelector::parse(input) else {
                continue;
            };
            let printed = sel.to_string();
            let again = FieldSelector::parse(&printed)
                .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
            assert_eq!(again, sel, "{input:?} printed as {printed:?}");
            let _ = sel.matches(|_: &str| None::<String>);
        }
    }

    #[test]
    fn exact_matches_come_from_equality_terms() {
        let cases = [
            ("metadata.name=web", Some("web")),
            ("metadata.name==web,spec.nodeName=n1", Some("web")),
            ("spec.nodeName=n1", None),
            ("metadata.name!=web", None),
            ("", None),
        ];
        for (selector, want) in cases {
            let parsed = FieldSelector::parse(selector).unwrap();
            assert_eq!(
                parsed.requires_exact_match("metadata.name"),
                want,
                "{selector}"
            );
        }
    }
}
