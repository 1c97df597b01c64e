//! Label selectors, as upstream `k8s.io/apimachinery/pkg/labels`.
//!
//! [`Selector::parse`] accepts exactly the syntax `kubectl -l` and the
//! `labelSelector` query parameter use:
//!
//! ```text
//! <selector>    ::= <requirement> | <requirement> "," <selector>
//! <requirement> ::= [!] KEY [ ("in" | "notin") "(" VALUES ")" | ("=" | "==" | "!=" | ">" | "<") VALUE ]
//! ```
//!
//! Keys are qualified names ([`crate::validation::is_qualified_name`]), values
//! are label values (possibly empty). `>`/`<` compare integers (node affinity
//! `Gt`/`Lt`). Whitespace around tokens is ignored and the empty string selects
//! everything. Requirements are kept sorted by key, so [`Selector`]'s `Display`
//! is upstream's canonical string (`app=web,tier in (a,b)`).
//!
//! Object-embedded `LabelSelector`s (Deployments, ReplicaSets, ...) convert with
//! [`Selector::from_label_selector`]; a Service's `spec.selector` map converts
//! with [`Selector::from_map`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::validation::{is_qualified_name, is_valid_label_value};

/// Errors from parsing or building a label selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The selector text is not well formed.
    #[error("unable to parse label selector {selector:?}: found '{found}', expected: {expected}")]
    Syntax {
        selector: String,
        found: String,
        expected: String,
    },
    /// A key is not a qualified name.
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    /// A value is not a valid label value (or not an integer for `>`/`<`).
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// The number of values does not fit the operator.
    #[error("invalid values for key {key:?}: {reason}")]
    InvalidValueCount { key: String, reason: &'static str },
    /// A `LabelSelector` expression uses an unknown operator.
    #[error("{operator:?} is not a valid label selector operator")]
    InvalidOperator { operator: String },
}

/// A requirement's operator (upstream `selection.Operator`).
///
/// `=` and `==` are kept apart only so that `Display` gives back what was
/// written, as upstream does; they match identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key in (a,b)`
    In,
    /// `key notin (a,b)`
    NotIn,
    /// `key=a`
    Equals,
    /// `key==a`
    DoubleEquals,
    /// `key!=a`
    NotEquals,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>3`
    GreaterThan,
    /// `key<3`
    LessThan,
}

impl Operator {
    /// Upstream's string for the operator (`in`, `notin`, `=`, `==`, `!=`,
    /// `exists`, `!`, `gt`, `lt`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Read access to a set of labels, so selectors can match maps of any kind.
pub trait LabelSource {
    /// The value of label `key`, if present.
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelSource for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> LabelSource for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// `None` (e.g. an object's absent `metadata.labels`) is an empty label set.
impl<L: LabelSource> LabelSource for Option<L> {
    fn label(&self, key: &str) -> Option<&str> {
        self.as_ref().and_then(|l| l.label(key))
    }
}

impl<L: LabelSource + ?Sized> LabelSource for &L {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

/// One `key op values` term of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: BTreeSet<String>,
}

impl Requirement {
    /// Builds a validated requirement (upstream `NewRequirement`): the key must be
    /// a qualified name, every value a label value, `in`/`notin` need at least
    /// one value, `=`/`==`/`!=` exactly one, `exists`/`!` none, and `gt`/`lt`
    /// exactly one integer.
    pub fn new<I, S>(key: &str, operator: Operator, values: I) -> Result<Requirement, SelectorError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        validate_key(key)?;
        let values: BTreeSet<String> = values.into_iter().map(Into::into).collect();
        let count_error = |reason| SelectorError::InvalidValueCount {
            key: key.to_string(),
            reason,
        };
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    return Err(count_error(
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    return Err(count_error(
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    return Err(count_error(
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(count_error(
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for value in &values {
                    if value.parse::<i64>().is_err() {
                        return Err(SelectorError::InvalidValue {
                            key: key.to_string(),
                            value: value.clone(),
                            reason: "for 'Gt', 'Lt' operators, the value must be an integer"
                                .to_string(),
                        });
                    }
                }
            }
        }
        for value in &values {
            let errs = is_valid_label_value(value);
            if !errs.is_empty() {
                return Err(SelectorError::InvalidValue {
                    key: key.to_string(),
                    value: value.clone(),
                    reason: errs.join("; "),
                });
            }
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether `labels` satisfy this requirement. `notin`, `!=` and `!` match
    /// when the key is absent; `gt`/`lt` never match a missing or non-integer
    /// label.
    pub fn matches<L: LabelSource + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                value.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(have) = value.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let mut wanted = self.values.iter().map(|v| v.parse::<i64>());
                let (Some(Ok(want)), None) = (wanted.next(), wanted.next()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.operator {
            Operator::Exists => return f.write_str(&self.key),
            Operator::DoesNotExist => return write!(f, "!{}", self.key),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
        };
        let values = self
            .values
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(",");
        match self.operator {
            Operator::In | Operator::NotIn => write!(f, "{}{op}({values})", self.key),
            _ => write!(f, "{}{op}{values}", self.key),
        }
    }
}

/// A label selector: the AND of its requirements. No requirements selects
/// everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    /// Sorted by key (stable, so same-key requirements keep their order).
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// The selector that matches every label set.
    pub fn everything() -> Selector {
        Selector::default()
    }

    /// Builds a selector from requirements, sorting them by key.
    pub fn new(mut requirements: Vec<Requirement>) -> Selector {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    /// Parses a selector string such as `app=web,tier in (a,b),!canary`.
    pub fn parse(selector: &str) -> Result<Selector, SelectorError> {
        Parser::new(selector).parse().map(Selector::new)
    }

    /// An equality selector from a map (a Service's `spec.selector`, a
    /// ReplicaSet's template labels). Like upstream `SelectorFromSet` the map is
    /// not validated; an empty map selects everything.
    pub fn from_map(map: &BTreeMap<String, String>) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement {
                    key: k.clone(),
                    operator: Operator::Equals,
                    values: BTreeSet::from([v.clone()]),
                })
                .collect(),
        }
    }

    /// Converts an object's `LabelSelector` (upstream
    /// `metav1.LabelSelectorAsSelector`): `matchLabels` become `=` requirements,
    /// `matchExpressions` use `In`, `NotIn`, `Exists` or `DoesNotExist`; any other
    /// operator is an error. An empty `LabelSelector` selects everything.
    ///
    /// Upstream treats an *absent* (`None`) selector as selecting **nothing**,
    /// which this type cannot express: callers holding an
    /// `Option<LabelSelector>` must treat `None` as "matches no object" (see
    /// [`matches_label_selector`], which does that).
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key, Operator::Equals, [value.as_str()])?);
        }
        for expr in selector.match_expressions.iter().flatten() {
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::InvalidOperator {
                        operator: other.to_string(),
                    })
                }
            };
            let values = expr.values.iter().flatten().map(String::as_str);
            requirements.push(Requirement::new(&expr.key, operator, values)?);
        }
        Ok(Selector::new(requirements))
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches<L: LabelSource + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector has no requirements and so selects everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// If the selector pins `key` to a single value (`key=v`, `key==v` or
    /// `key in (v)`), that value (upstream `RequiresExactMatch`).
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == key)?;
        match r.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In if r.values.len() == 1 => {
                r.values.iter().next().map(String::as_str)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Selector {
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

impl std::str::FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

/// Matches an optional object `LabelSelector` the way upstream controllers do:
/// `None` matches nothing, an empty selector matches everything.
pub fn matches_label_selector<L: LabelSource + ?Sized>(
    selector: Option<&LabelSelector>,
    labels: &L,
) -> Result<bool, SelectorError> {
    match selector {
        None => Ok(false),
        Some(s) => Ok(Selector::from_label_selector(s)?.matches(labels)),
    }
}

fn validate_key(key: &str) -> Result<(), SelectorError> {
    let errs = is_qualified_name(key);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(SelectorError::InvalidKey {
            key: key.to_string(),
            reason: errs.join("; "),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn symbol_token(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the input into tokens. Like upstream's byte lexer, an identifier is
/// any run of bytes that are neither whitespace nor operator symbols; symbols
/// are matched greedily (`!=` before `!`). All delimiters are ASCII, so every
/// slice boundary is a char boundary.
fn lex(input: &str) -> Vec<(Token, &str)> {
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            out.push((Token::End, ""));
            return out;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            // Every single symbol is a token; extend while the longer run still is one.
            let mut best = (Token::End, start);
            while pos < bytes.len() && is_special(bytes[pos]) {
                match symbol_token(&input[start..=pos]) {
                    Some(tok) => best = (tok, pos + 1),
                    None => break,
                }
                pos += 1;
            }
            pos = best.1;
            out.push((best.0, &input[start..pos]));
        } else {
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                pos += 1;
            }
            let word = &input[start..pos];
            let tok = match word {
                "in" => Token::In,
                "notin" => Token::NotIn,
                _ => Token::Identifier,
            };
            out.push((tok, word));
        }
    }
}

/// Whether `in`/`notin` are read as keywords (after a key) or as plain words
/// (keys and values: `in in (in)` is valid).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser<'a> {
    input: &'a str,
    tokens: Vec<(Token, &'a str)>,
    position: usize,
}

const BINARY_OPERATORS: &str = "in, notin, =, ==, !=, gt, lt";

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Parser<'a> {
        Parser {
            input,
            tokens: lex(input),
            position: 0,
        }
    }

    fn item(&self, index: usize, ctx: Context) -> (Token, &'a str) {
        let (tok, lit) = self.tokens.get(index).copied().unwrap_or((Token::End, ""));
        match tok {
            Token::In | Token::NotIn if ctx == Context::Values => (Token::Identifier, lit),
            _ => (tok, lit),
        }
    }

    fn lookahead(&self, ctx: Context) -> (Token, &'a str) {
        self.item(self.position, ctx)
    }

    fn consume(&mut self, ctx: Context) -> (Token, &'a str) {
        let item = self.item(self.position, ctx);
        self.position += 1;
        item
    }

    fn syntax(&self, found: &str, expected: &str) -> SelectorError {
        SelectorError::Syntax {
            selector: self.input.to_string(),
            found: found.to_string(),
            expected: expected.to_string(),
        }
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    requirements.push(self.parse_requirement()?);
                    let (tok, lit) = self.consume(Context::Values);
                    match tok {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let (next, next_lit) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(self.syntax(next_lit, "identifier after ','"));
                            }
                        }
                        _ => return Err(self.syntax(lit, "',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(requirements),
                _ => return Err(self.syntax(lit, "!, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, unary) = self.parse_key_and_infer_operator()?;
        if let Some(op) = unary {
            return Requirement::new(key, op, Vec::<String>::new());
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(key, operator, values)
    }

    /// Reads `[!] KEY`; returns the unary operator when the requirement ends
    /// there (`key` → Exists, `!key` → DoesNotExist).
    fn parse_key_and_infer_operator(
        &mut self,
    ) -> Result<(&'a str, Option<Operator>), SelectorError> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(self.syntax(lit, "identifier"));
        }
        validate_key(lit)?;
        let (next, _) = self.lookahead(Context::Values);
        if operator.is_none() && (next == Token::End || next == Token::Comma) {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, SelectorError> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(self.syntax(lit, BINARY_OPERATORS)),
        })
    }

    /// Reads `( v1, v2, ... )`. Empty entries are the empty value: `()`, `(,a)`
    /// and `(a,)` all contain `""`.
    fn parse_values(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(self.syntax(lit, "'('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(self.syntax(lit, "')'"));
                }
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            _ => Err(self.syntax(lit, "',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let mut values = BTreeSet::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    values.insert(lit.to_string());
                    let (next, next_lit) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(self.syntax(next_lit, "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    let (next, _) = self.lookahead(Context::Values);
                    if next == Token::ClosedPar {
                        values.insert(String::new());
                        return Ok(values);
                    }
                    if next == Token::Comma {
                        values.insert(String::new());
                    }
                }
                _ => return Err(self.syntax(lit, "',', or identifier")),
            }
        }
    }

    /// Reads the single value after `=`, `==`, `!=`, `>` or `<`; nothing
    /// before `,` or the end is the empty value.
    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::End || tok == Token::Comma {
            return Ok(BTreeSet::from([String::new()]));
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            Ok(BTreeSet::from([lit.to_string()]))
        } else {
            Err(self.syntax(lit, "identifier"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn set(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parse_and_restring() {
        // (input, canonical string)
        let cases = [
            ("", ""),
            ("   ", ""),
            ("x=a,y=b,z=c", "x=a,y=b,z=c"),
            ("x!=a,y=b", "x!=a,y=b"),
            ("x=", "x="),
            ("x= ", "x="),
            ("x=,z= ", "x=,z="),
            ("x= ,z= ", "x=,z="),
            ("!x", "!x"),
            ("x>1", "x>1"),
            ("x>1,z<5", "x>1,z<5"),
            ("x==a", "x==a"),
            ("z=a,a=z", "a=z,z=a"),
            ("app=web,tier in (b,a)", "app=web,tier in (a,b)"),
            ("  tier   notin  ( x , y ) ", "tier notin (x,y)"),
            ("env", "env"),
            ("!env,app", "app,!env"),
            (
                "x in (foo,,baz),y,z notin ()",
                "x in (,baz,foo),y,z notin ()",
            ),
            ("x in (,a)", "x in (,a)"),
            ("x in (a,)", "x in (,a)"),
            ("in in (in,notin)", "in in (in,notin)"),
            ("notin notin (x)", "notin notin (x)"),
            ("example.com/app=v1", "example.com/app=v1"),
            ("a\tin\n(b)", "a in (b)"),
            ("k=v,k!=w", "k=v,k!=w"),
        ];
        for (input, want) in cases {
            let sel = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(sel.to_string(), want, "input {input:?}");
            // The canonical form parses back to the same selector.
            assert_eq!(Selector::parse(want).unwrap(), sel, "reparse {want:?}");
        }
    }

    #[test]
    fn parse_structure() {
        let sel = Selector::parse("tier in (a,b),app=web,!canary,x>3").unwrap();
        let ops: Vec<(&str, Operator)> = sel
            .requirements
            .iter()
            .map(|r| (r.key.as_str(), r.operator))
            .collect();
        assert_eq!(
            ops,
            vec![
                ("app", Operator::Equals),
                ("canary", Operator::DoesNotExist),
                ("tier", Operator::In),
                ("x", Operator::GreaterThan),
            ]
        );
        assert_eq!(
            sel.requirements[2].values,
            BTreeSet::from(["a".to_string(), "b".to_string()])
        );
        assert!(Selector::parse("").unwrap().is_everything());
        assert!(!sel.is_everything());
    }

    #[test]
    fn parse_errors() {
        let cases = [
            "x=a||y=b",
            "x==a==b",
            "!x=a",
            "x<a",
            "x>1.5",
            "x>",
            "x>=1",
            "x<-1",
            ",",
            "a,",
            "a,,b",
            "x in a",
            "x in (a",
            "x in (a b)",
            "x in (a))",
            "x notin",
            "x y",
            "=a",
            "!",
            "!!a",
            "a=(b)",
            "a=b c",
            "a b=c",
            "-a=b",
            "a/b/c=d",
            "a=b/c",
            "ключ=v",
            "k=значение",
            "(",
            ")",
            "x in ()=",
        ];
        for input in cases {
            assert!(Selector::parse(input).is_err(), "input {input:?} parsed");
        }
    }

    #[test]
    fn error_messages_name_the_culprit() {
        let cases = [
            ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            (",", "found ',', expected: !, identifier, or 'end of string'"),
            ("a,", "found '', expected: identifier after ','"),
            ("-a=b", "invalid label key \"-a\": name part must consist of"),
            ("a=-b", "invalid label value \"-b\" for key \"a\""),
            ("a>x", "invalid label value \"x\" for key \"a\": for 'Gt', 'Lt' operators, the value must be an integer"),
        ];
        for (input, want) in cases {
            let err = Selector::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "input {input:?}: got {err:?}");
        }
    }

    #[test]
    fn matching() {
        // (selector, labels, matches)
        type Labels = &'static [(&'static str, &'static str)];
        let cases: &[(&str, Labels, bool)] = &[
            ("", &[("x", "y")], true),
            ("", &[], true),
            ("x=y", &[("x", "y")], true),
            ("x==y", &[("x", "y")], true),
            ("x=y", &[("x", "z")], false),
            ("x=y", &[], false),
            ("x=", &[("x", "")], true),
            ("x=", &[], false),
            ("x!=y", &[("x", "z")], true),
            ("x!=y", &[], true),
            ("x!=y", &[("x", "y")], false),
            ("x=y,z=w", &[("x", "y"), ("z", "w")], true),
            ("x=y,z=w", &[("x", "w"), ("z", "w")], false),
            ("x!=y,z!=w", &[("x", "z"), ("z", "a")], true),
            ("x in (a,b)", &[("x", "b")], true),
            ("x in (a,b)", &[("x", "c")], false),
            ("x in (a,b)", &[], false),
            ("x notin (a,b)", &[("x", "c")], true),
            ("x notin (a,b)", &[], true),
            ("x notin (a,b)", &[("x", "a")], false),
            ("x", &[("x", "")], true),
            ("x", &[("y", "")], false),
            ("!x", &[("y", "")], true),
            ("!x", &[("x", "1")], false),
            ("x>3", &[("x", "4")], true),
            ("x>3", &[("x", "3")], false),
            ("x>3", &[("x", "abc")], false),
            ("x>3", &[], false),
            ("x<3", &[("x", "-10")], true),
            ("x<3", &[("x", "3")], false),
            ("x in (),y", &[("x", ""), ("y", "a")], true),
        ];
        for (selector, labels, want) in cases {
            let sel = Selector::parse(selector).unwrap();
            assert_eq!(
                sel.matches(&set(labels)),
                *want,
                "{selector:?} vs {labels:?}"
            );
        }
    }

    #[test]
    fn matches_other_label_sources() {
        let sel = Selector::parse("app=web").unwrap();
        let mut hm = HashMap::new();
        hm.insert("app".to_string(), "web".to_string());
        assert!(sel.matches(&hm));
        let none: Option<BTreeMap<String, String>> = None;
        assert!(!sel.matches(&none));
        assert!(Selector::parse("!app").unwrap().matches(&none));
        assert!(sel.matches(&Some(set(&[("app", "web")]))));
    }

    #[test]
    fn requirement_constructor() {
        type Vals = &'static [&'static str];
        let cases: &[(&str, Operator, Vals, bool)] = &[
            ("x", Operator::In, &["a"], true),
            ("x", Operator::In, &[], false),
            ("x", Operator::NotIn, &[], false),
            ("x", Operator::Equals, &["a", "b"], false),
            ("x", Operator::Equals, &[""], true),
            ("x", Operator::Exists, &[], true),
            ("x", Operator::Exists, &["a"], false),
            ("x", Operator::DoesNotExist, &["a"], false),
            ("x", Operator::GreaterThan, &["1"], true),
            ("x", Operator::GreaterThan, &["1", "2"], false),
            ("x", Operator::LessThan, &["a"], false),
            ("", Operator::Exists, &[], false),
            ("x", Operator::In, &["a b"], false),
            ("x", Operator::In, &["a", "a"], true),
        ];
        for (key, op, values, ok) in cases {
            let got = Requirement::new(key, *op, values.iter().copied());
            assert_eq!(got.is_ok(), *ok, "{key:?} {op:?} {values:?}: {got:?}");
        }
        let long = "a".repeat(64);
        assert!(Requirement::new("x", Operator::In, [long.as_str()]).is_err());
    }

    #[test]
    fn from_map_and_exact_match() {
        let sel = Selector::from_map(&set(&[("b", "2"), ("a", "1")]));
        assert_eq!(sel.to_string(), "a=1,b=2");
        assert!(sel.matches(&set(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!sel.matches(&set(&[("a", "1")])));
        assert_eq!(sel.requires_exact_match("a"), Some("1"));
        assert_eq!(sel.requires_exact_match("c"), None);
        assert!(Selector::from_map(&BTreeMap::new()).is_everything());
        let sel = Selector::parse("a in (x),b in (x,y),c!=z").unwrap();
        assert_eq!(sel.requires_exact_match("a"), Some("x"));
        assert_eq!(sel.requires_exact_match("b"), None);
        assert_eq!(sel.requires_exact_match("c"), None);
    }

    fn expr(key: &str, op: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: op.to_string(),
            values: values.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn from_label_selector() {
        let ls = LabelSelector {
            match_labels: Some(set(&[("app", "web")])),
            match_expressions: Some(vec![
                expr("tier", "In", Some(&["b", "a"])),
                expr("env", "NotIn", Some(&["dev"])),
                expr("gpu", "Exists", None),
                expr("canary", "DoesNotExist", Some(&[])),
            ]),
        };
        let sel = Selector::from_label_selector(&ls).unwrap();
        assert_eq!(
            sel.to_string(),
            "app=web,!canary,env notin (dev),gpu,tier in (a,b)"
        );
        assert!(sel.matches(&set(&[("app", "web"), ("tier", "a"), ("gpu", "")])));
        assert!(!sel.matches(&set(&[("app", "web"), ("tier", "a")])));

        assert!(Selector::from_label_selector(&LabelSelector::default())
            .unwrap()
            .is_everything());

        let bad = [
            (
                expr("x", "Gt", Some(&["1"])),
                "\"Gt\" is not a valid label selector operator",
            ),
            (expr("x", "In", None), "values set can't be empty"),
            (
                expr("x", "Exists", Some(&["a"])),
                "values set must be empty",
            ),
            (
                expr("bad key", "Exists", None),
                "invalid label key \"bad key\"",
            ),
        ];
        for (e, want) in bad {
            let ls = LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![e]),
            };
            let err = Selector::from_label_selector(&ls).unwrap_err().to_string();
            assert!(err.contains(want), "got {err:?}, want {want:?}");
        }
        let ls = LabelSelector {
            match_labels: Some(set(&[("app", "not valid")])),
            match_expressions: None,
        };
        assert!(Selector::from_label_selector(&ls).is_err());
    }

    #[test]
    fn optional_label_selector() {
        let labels = set(&[("app", "web")]);
        assert!(!matches_label_selector(None, &labels).unwrap());
        assert!(matches_label_selector(Some(&LabelSelector::default()), &labels).unwrap());
        let ls = LabelSelector {
            match_labels: Some(set(&[("app", "db")])),
            match_expressions: None,
        };
        assert!(!matches_label_selector(Some(&ls), &labels).unwrap());
    }

    #[test]
    fn never_panics_on_odd_input() {
        let inputs = [
            "é",
            "!é",
            "a=é",
            "日本=語",
            "a in (é)",
            "((((",
            "))))",
            "!!!!",
            "====",
            "<><>",
            "a in",
            "a in (",
            "a notin (,",
            "\u{0}",
            "a=\u{7f}",
            "!=",
            "a!",
            "a!b",
        ];
        for input in inputs {
            let _ = Selector::parse(input);
        }
    }

    /// Every string of up to four tokens-worth of characters: parsing never
    /// panics and a parsed selector's canonical string parses back to it.
    #[test]
    fn exhaustive_short_inputs_roundtrip() {
        let alphabet = ["a", "=", "!", "(", ")", ",", "<", ">", " ", "1", "in", "é"];
        let mut inputs = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for prefix in &frontier {
                for piece in alphabet {
                    next.push(format!("{prefix}{piece}"));
                }
            }
            inputs.extend(next.iter().cloned());
            frontier = next;
        }
        let labels = BTreeMap::from([("a".to_string(), "1".to_string())]);
        for input in &inputs {
            let Ok(sel) = Selector::parse(input) else {
                continue;
            };
            let printed = sel.to_string();
            let again = Selector::parse(&printed)
                .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
            assert_eq!(again, sel, "{input:?} printed as {printed:?}");
            let _ = sel.matches(&labels);
        }
    }
}
