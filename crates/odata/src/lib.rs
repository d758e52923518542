//! OData's query options `$filter`, `$orderby` and `$select`, read into a
//! syntax tree: the subset Microsoft Graph's directory collections take
//! (OData 4.01 URL Conventions §5.1; Graph's "Use query parameters" and
//! "Advanced query capabilities on directory objects" pages).
//!
//! `$filter` grammar (operators lower case, as OData writes them):
//!
//! ```text
//! filter     = or
//! or         = and *( "or" and )
//! and        = unary *( "and" unary )
//! unary      = *( "not" ) primary
//! primary    = "(" or ")" / "startswith(" property "," literal ")" / comparison
//! comparison = property ( ("eq" / "ne" / "gt" / "ge" / "lt" / "le") literal
//!                       / "in" "(" literal *( "," literal ) ")" )
//! literal    = 'text' (a quote doubled inside) / true / false / null
//!            / integer / DateTimeOffset (2026-12-04T10:00:00Z)
//! ```
//!
//! The tree says nothing about which properties exist: the server checks
//! every property and literal against the collection it serves. Work is
//! bounded for any input: at most [`MAX_LEN`] characters, [`MAX_DEPTH`]
//! nested parentheses, [`MAX_TERMS`] comparisons and [`MAX_IN`] values in
//! one `in` list.

#![warn(missing_docs)]

use std::fmt;
use winnow::ascii::multispace0;
use winnow::combinator::{alt, cut_err, delimited, not, opt, preceded, repeat, separated};
use winnow::error::{ContextError, ErrMode, StrContext, StrContextValue};
use winnow::prelude::*;
use winnow::token::{none_of, one_of, take_while};

/// Longest query option read, in characters.
pub const MAX_LEN: usize = 2048;
/// Deepest nesting of parentheses in `$filter`.
pub const MAX_DEPTH: usize = 16;
/// Most comparisons (and `startswith`/`in` terms) in one `$filter`.
pub const MAX_TERMS: usize = 64;
/// Most values in one `in (…)` list.
pub const MAX_IN: usize = 100;

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a and b`: both hold (binds tighter than `or`).
    And(Box<Expr>, Box<Expr>),
    /// `a or b`: either holds.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `property op literal`.
    Compare {
        /// The property as written (the server checks that it exists and
        /// may be compared this way).
        property: String,
        /// The operator.
        op: CompareOp,
        /// The value compared with.
        value: Literal,
    },
    /// `property in (literal, …)`.
    In {
        /// The property as written.
        property: String,
        /// The values, at most [`MAX_IN`].
        values: Vec<Literal>,
    },
    /// `startswith(property, literal)`.
    StartsWith {
        /// The property as written.
        property: String,
        /// The prefix (the server takes only text).
        prefix: Literal,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`: equal (with `null`: the property is absent).
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// The operator as OData writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'`, with a doubled quote read as one.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A decimal integer that fits in 64 bits.
    Int(i64),
    /// A DateTimeOffset, as Unix seconds (fractions of a second dropped).
    DateTime(i64),
}

impl Literal {
    /// What kind of literal this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Literal::Text(_) => "a string",
            Literal::Bool(_) => "a boolean",
            Literal::Null => "null",
            Literal::Int(_) => "a number",
            Literal::DateTime(_) => "a date-time",
        }
    }
}

/// One `$orderby` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The property to sort by, as written.
    pub property: String,
    /// `desc` was given (ascending otherwise).
    pub descending: bool,
}

/// Why a query option could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// `$filter`, `$orderby` or `$select`.
    pub option: &'static str,
    /// What is wrong, for the caller (Graph's `error.message`).
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

impl std::error::Error for Error {}

type In<'i> = &'i str;
type PResult<O> = winnow::ModalResult<O>;

fn expected(what: &'static str) -> StrContext {
    StrContext::Expected(StrContextValue::Description(what))
}

fn ws<'i, O>(
    inner: impl Parser<In<'i>, O, ErrMode<ContextError>>,
) -> impl Parser<In<'i>, O, ErrMode<ContextError>> {
    delimited(multispace0, inner, multispace0)
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A keyword: the word, not the start of a longer identifier.
fn keyword<'i>(word: &'static str) -> impl Parser<In<'i>, (), ErrMode<ContextError>> {
    ws((word, not(one_of(ident_char)))).void()
}

fn identifier<'i>(i: &mut In<'i>) -> PResult<&'i str> {
    ws((
        one_of(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(0.., ident_char),
    ))
    .take()
    .map(str::trim)
    .context(expected("a property name"))
    .parse_next(i)
}

fn text(i: &mut In<'_>) -> PResult<Literal> {
    let chars: Vec<char> = delimited(
        '\'',
        repeat(0.., alt(("''".value('\''), none_of('\'')))),
        cut_err('\'').context(expected("the closing quote of a string")),
    )
    .parse_next(i)?;
    Ok(Literal::Text(chars.into_iter().collect()))
}

/// An integer or a DateTimeOffset (both start with a digit or `-`).
fn number_or_date(i: &mut In<'_>) -> PResult<Literal> {
    let word = take_while(1.., |c: char| {
        c.is_ascii_digit() || matches!(c, '-' | '+' | ':' | '.' | 'T' | 'Z')
    })
    .parse_next(i)?;
    if word.contains('T') {
        let at = time::OffsetDateTime::parse(word, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ErrMode::Cut(ContextError::new()))
            .map_err(|e: ErrMode<ContextError>| {
                e.map(|c| {
                    let mut c = c;
                    c.push(expected("a date-time such as 2026-12-04T10:00:00Z"));
                    c
                })
            })?;
        return Ok(Literal::DateTime(at.unix_timestamp()));
    }
    word.parse::<i64>().map(Literal::Int).map_err(|_| {
        let mut c = ContextError::new();
        c.push(expected("a number"));
        ErrMode::Cut(c)
    })
}

fn literal(i: &mut In<'_>) -> PResult<Literal> {
    ws(alt((
        text,
        keyword("true").value(Literal::Bool(true)),
        keyword("false").value(Literal::Bool(false)),
        keyword("null").value(Literal::Null),
        number_or_date,
    )))
    .context(expected(
        "a value ('text', true, false, null, a number or a date-time)",
    ))
    .parse_next(i)
}

fn compare_op(i: &mut In<'_>) -> PResult<CompareOp> {
    alt((
        keyword("eq").value(CompareOp::Eq),
        keyword("ne").value(CompareOp::Ne),
        keyword("gt").value(CompareOp::Gt),
        keyword("ge").value(CompareOp::Ge),
        keyword("lt").value(CompareOp::Lt),
        keyword("le").value(CompareOp::Le),
    ))
    .parse_next(i)
}

fn comparison(i: &mut In<'_>) -> PResult<Expr> {
    let property = identifier.parse_next(i)?.to_owned();
    if opt(ws('(')).parse_next(i)?.is_some() {
        // A function call: only startswith is implemented.
        if property != "startswith" {
            let mut c = ContextError::new();
            c.push(StrContext::Label(
                "function: only startswith(property, 'text') is supported",
            ));
            return Err(ErrMode::Cut(c));
        }
        let (name, _, prefix, _) = cut_err((
            identifier,
            ws(',').context(expected("',' after the property")),
            literal,
            ws(')').context(expected("')' closing startswith")),
        ))
        .parse_next(i)?;
        return Ok(Expr::StartsWith {
            property: name.to_owned(),
            prefix,
        });
    }
    if opt(keyword("in")).parse_next(i)?.is_some() {
        let values: Vec<Literal> = cut_err(delimited(
            ws('(').context(expected("'(' opening the in list")),
            separated(1.., literal, ws(',')),
            ws(')').context(expected("')' closing the in list")),
        ))
        .parse_next(i)?;
        return Ok(Expr::In { property, values });
    }
    let (op, value) = cut_err((
        compare_op.context(expected("an operator: eq, ne, gt, ge, lt, le or in")),
        literal,
    ))
    .parse_next(i)?;
    Ok(Expr::Compare {
        property,
        op,
        value,
    })
}

fn primary(i: &mut In<'_>) -> PResult<Expr> {
    alt((
        delimited(ws('('), or_expr, cut_err(ws(')')).context(expected("')'"))),
        comparison,
    ))
    .parse_next(i)
}

fn unary(i: &mut In<'_>) -> PResult<Expr> {
    // Counted, not recursive: a long run of `not` costs no stack.
    let nots: usize = repeat(0.., keyword("not")).parse_next(i)?;
    let mut e = primary.parse_next(i)?;
    for _ in 0..nots {
        e = Expr::Not(Box::new(e));
    }
    Ok(e)
}

fn and_expr(i: &mut In<'_>) -> PResult<Expr> {
    let first = unary.parse_next(i)?;
    let rest: Vec<Expr> = repeat(0.., preceded(keyword("and"), cut_err(unary))).parse_next(i)?;
    Ok(rest
        .into_iter()
        .fold(first, |a, b| Expr::And(Box::new(a), Box::new(b))))
}

fn or_expr(i: &mut In<'_>) -> PResult<Expr> {
    let first = and_expr.parse_next(i)?;
    let rest: Vec<Expr> = repeat(0.., preceded(keyword("or"), cut_err(and_expr))).parse_next(i)?;
    Ok(rest
        .into_iter()
        .fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))))
}

fn order_item(i: &mut In<'_>) -> PResult<OrderBy> {
    let property = identifier.parse_next(i)?.to_owned();
    let dir = opt(alt((
        keyword("asc").value(false),
        keyword("desc").value(true),
    )))
    .parse_next(i)?;
    Ok(OrderBy {
        property,
        descending: dir.unwrap_or(false),
    })
}

/// Checks length and, for `$filter`, the nesting of parentheses (outside
/// string literals) before any parsing, so that work and stack stay
/// bounded whatever the input.
fn precheck(option: &'static str, input: &str) -> Result<(), Error> {
    let fail = |message: String| Err(Error { option, message });
    if input.chars().count() > MAX_LEN {
        return fail(format!("longer than {MAX_LEN} characters"));
    }
    if input.trim().is_empty() {
        return fail("empty".into());
    }
    let (mut depth, mut in_text) = (0usize, false);
    for c in input.chars() {
        match c {
            '\'' => in_text = !in_text,
            '(' if !in_text => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return fail(format!("nested deeper than {MAX_DEPTH} parentheses"));
                }
            }
            ')' if !in_text => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn run<'i, O>(
    option: &'static str,
    input: &'i str,
    mut parser: impl Parser<In<'i>, O, ErrMode<ContextError>>,
) -> Result<O, Error> {
    precheck(option, input)?;
    parser.parse(input).map_err(|e| {
        let at = e.offset();
        let found: String = input[at..].chars().take(20).collect();
        let context = e.inner().to_string();
        let what = if context.is_empty() {
            "unexpected text".to_owned()
        } else {
            context.replace('\n', " ")
        };
        Error {
            option,
            message: if found.is_empty() {
                format!("ends too early: {what}")
            } else {
                format!("cannot read it at character {} ('{found}'): {what}", at + 1)
            },
        }
    })
}

fn count_terms(e: &Expr) -> usize {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => count_terms(a) + count_terms(b),
        Expr::Not(a) => count_terms(a),
        Expr::In { values, .. } => values.len().max(1),
        _ => 1,
    }
}

fn max_in(e: &Expr) -> usize {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => max_in(a).max(max_in(b)),
        Expr::Not(a) => max_in(a),
        Expr::In { values, .. } => values.len(),
        _ => 0,
    }
}

/// Reads a `$filter` value.
pub fn parse_filter(input: &str) -> Result<Expr, Error> {
    let e = run("$filter", input, or_expr)?;
    let fail = |message: String| {
        Err(Error {
            option: "$filter",
            message,
        })
    };
    if max_in(&e) > MAX_IN {
        return fail(format!("an in list holds more than {MAX_IN} values"));
    }
    if count_terms(&e) > MAX_TERMS {
        return fail(format!("more than {MAX_TERMS} comparisons"));
    }
    Ok(e)
}

/// Reads an `$orderby` value: `property [asc|desc]`, comma-separated.
pub fn parse_orderby(input: &str) -> Result<Vec<OrderBy>, Error> {
    run("$orderby", input, separated(1..=8, order_item, ws(',')))
}

/// Reads a `$select` value: property names, comma-separated.
pub fn parse_select(input: &str) -> Result<Vec<String>, Error> {
    let names: Vec<&str> = run("$select", input, separated(1..=64, identifier, ws(',')))?;
    Ok(names.into_iter().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(p: &str, op: CompareOp, v: Literal) -> Expr {
        Expr::Compare {
            property: p.into(),
            op,
            value: v,
        }
    }

    fn text(s: &str) -> Literal {
        Literal::Text(s.into())
    }

    #[test]
    fn comparisons_and_literals() {
        // Yubico's public Entra sample asks for its group this way.
        assert_eq!(
            parse_filter("displayName eq 'Passkey Users'").unwrap(),
            cmp("displayName", CompareOp::Eq, text("Passkey Users"))
        );
        assert_eq!(
            parse_filter("displayName eq 'O''Brien'").unwrap(),
            cmp("displayName", CompareOp::Eq, text("O'Brien"))
        );
        assert_eq!(
            parse_filter("accountEnabled ne false").unwrap(),
            cmp("accountEnabled", CompareOp::Ne, Literal::Bool(false))
        );
        assert_eq!(
            parse_filter("mail eq null").unwrap(),
            cmp("mail", CompareOp::Eq, Literal::Null)
        );
        assert_eq!(
            parse_filter("activityDateTime ge 2026-12-04T10:00:00Z").unwrap(),
            cmp(
                "activityDateTime",
                CompareOp::Ge,
                Literal::DateTime(1_796_378_400)
            )
        );
        assert_eq!(
            parse_filter("createdDateTime lt 2026-12-04T11:00:00.123+01:00").unwrap(),
            cmp(
                "createdDateTime",
                CompareOp::Lt,
                Literal::DateTime(1_796_378_400)
            )
        );
        assert_eq!(
            parse_filter("x gt -12").unwrap(),
            cmp("x", CompareOp::Gt, Literal::Int(-12))
        );
        for (op, o) in [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ] {
            assert_eq!(
                parse_filter(&format!("a {op} 'b'")).unwrap(),
                cmp("a", o, text("b"))
            );
            assert_eq!(o.as_str(), op);
        }
    }

    #[test]
    fn precedence_not_and_or() {
        // not binds tighter than and, and tighter than or.
        let e = parse_filter("a eq '1' or not b eq '2' and c eq '3'").unwrap();
        assert_eq!(
            e,
            Expr::Or(
                Box::new(cmp("a", CompareOp::Eq, text("1"))),
                Box::new(Expr::And(
                    Box::new(Expr::Not(Box::new(cmp("b", CompareOp::Eq, text("2"))))),
                    Box::new(cmp("c", CompareOp::Eq, text("3"))),
                )),
            )
        );
        let e = parse_filter("(a eq '1' or b eq '2') and not not c eq '3'").unwrap();
        let Expr::And(l, r) = e else { panic!() };
        assert!(matches!(*l, Expr::Or(..)));
        assert!(matches!(*r, Expr::Not(ref n) if matches!(**n, Expr::Not(_))));
        // Left-associative chains.
        let e = parse_filter("a eq '1' and b eq '2' and c eq '3'").unwrap();
        let Expr::And(l, _) = e else { panic!() };
        assert!(matches!(*l, Expr::And(..)));
    }

    #[test]
    fn functions_and_lists() {
        assert_eq!(
            parse_filter("startswith(userPrincipalName, 'ann')").unwrap(),
            Expr::StartsWith {
                property: "userPrincipalName".into(),
                prefix: text("ann")
            }
        );
        assert_eq!(
            parse_filter("id in ('a', 'b','c')").unwrap(),
            Expr::In {
                property: "id".into(),
                values: vec![text("a"), text("b"), text("c")]
            }
        );
        // A property whose name starts with a keyword is a property.
        assert_eq!(
            parse_filter("notes eq 'x' and android eq 'y'").unwrap(),
            Expr::And(
                Box::new(cmp("notes", CompareOp::Eq, text("x"))),
                Box::new(cmp("android", CompareOp::Eq, text("y")))
            )
        );
        let e = parse_filter("endswith(mail, '@contoso.com')").unwrap_err();
        assert!(e.message.contains("only startswith"), "{e}");
    }

    #[test]
    fn errors_name_where_and_what() {
        for (input, part) in [
            ("displayName eq", "ends too early"),
            ("displayName eq 'x", "closing quote"),
            ("displayName equals 'x'", "an operator"),
            ("displayName eq 'x' and", "ends too early"),
            ("(a eq 'x'", "')'"),
            ("a eq 'x')", "character 9"),
            ("a eq 2026-13-99T00:00:00Z", "date-time"),
            ("a eq 99999999999999999999", "a number"),
            ("a in ()", "value"),
            ("a/any(x:x eq 'y')", "character 2"),
            ("eq 'x'", "an operator"),
            ("   ", "empty"),
        ] {
            let e = parse_filter(input).unwrap_err();
            assert_eq!(e.option, "$filter");
            assert!(e.to_string().contains(part), "{input}: {e}");
        }
    }

    #[test]
    fn work_is_bounded() {
        let deep = format!("{}a eq 'x'{}", "(".repeat(17), ")".repeat(17));
        assert!(parse_filter(&deep).unwrap_err().message.contains("nested"));
        let ok = format!("{}a eq 'x'{}", "(".repeat(16), ")".repeat(16));
        parse_filter(&ok).unwrap();
        // Parentheses inside strings do not count.
        parse_filter(&format!("a eq '{}'", "(".repeat(100))).unwrap();
        let long = format!("a eq '{}'", "x".repeat(MAX_LEN));
        assert!(parse_filter(&long).unwrap_err().message.contains("longer"));
        let many = vec!["a eq 'x'"; MAX_TERMS + 1].join(" or ");
        assert!(parse_filter(&many)
            .unwrap_err()
            .message
            .contains("comparisons"));
        let list = (0..=MAX_IN).map(|i| format!("'{i}'")).collect::<Vec<_>>();
        let e = parse_filter(&format!("id in ({})", list.join(","))).unwrap_err();
        assert!(e.message.contains("in list"), "{e}");
        // A long run of not: no recursion, no stack overflow.
        let nots = format!("{}a eq 'x'", "not ".repeat(500));
        assert!(parse_filter(&nots).is_ok());
    }

    #[test]
    fn orderby_and_select() {
        assert_eq!(
            parse_orderby("displayName desc, id").unwrap(),
            vec![
                OrderBy {
                    property: "displayName".into(),
                    descending: true
                },
                OrderBy {
                    property: "id".into(),
                    descending: false
                }
            ]
        );
        assert!(!parse_orderby("userPrincipalName asc").unwrap()[0].descending);
        assert!(parse_orderby("displayName sideways").is_err());
        assert!(parse_orderby("").is_err());
        assert_eq!(
            parse_select("id,displayName , userPrincipalName").unwrap(),
            ["id", "displayName", "userPrincipalName"]
        );
        let e = parse_select("id,,x").unwrap_err();
        assert_eq!(e.option, "$select");
        assert!(parse_select("id, 'x'").is_err());
    }
}
