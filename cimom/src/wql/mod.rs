//! WQL: parsing (pest grammar `wql.pest`) and evaluation against instances.
//!
//! Supported: `SELECT * | prop[, prop...] FROM class [WHERE cond]` where a
//! condition combines, with `AND`, `OR`, `NOT` and parentheses, the
//! predicates `a op b` (`=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`), `a ISA Class`,
//! `a [NOT] LIKE 'pattern'` (`%` any run, `_` one character, `\` escapes),
//! `a IS [NOT] NULL`, and a bare boolean property. Operands are property
//! names (dotted paths reach into embedded instances:
//! `SourceInstance.shadowVolume`) or literals: strings in single or double
//! quotes, integers (decimal or `0x` hex), reals, `TRUE`, `FALSE`, `NULL`.
//! Keywords are case-insensitive; property and class names compare
//! case-insensitively; string comparison is case-sensitive.
//!
//! Evaluation uses SQL's three-valued logic: a comparison involving NULL (or
//! a missing property, or incomparable types) is *unknown*, and an instance
//! matches only when the whole condition is *true*.

use cim::{CimError, CimName, Instance, StatusCode, Value};
use pest::iterators::Pair;
use pest::Parser;
use std::cmp::Ordering;

#[derive(pest_derive::Parser)]
#[grammar = "wql/wql.pest"]
struct WqlParser;

/// A query that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid WQL query: {0}")]
pub struct QueryError(pub String);

impl QueryError {
    /// `CIM_ERR_INVALID_QUERY` with this message.
    pub fn to_cim(&self) -> CimError {
        CimError::new(StatusCode::InvalidQuery, self.to_string())
    }
}

impl From<QueryError> for CimError {
    fn from(e: QueryError) -> CimError {
        e.to_cim()
    }
}

/// Accepts `WQL` (any case); anything else (`DMTF:CQL`, ...) is
/// `CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED`.
pub fn check_language(lang: &str) -> Result<(), CimError> {
    if lang.trim().eq_ignore_ascii_case("WQL") {
        Ok(())
    } else {
        Err(CimError::new(
            StatusCode::QueryLanguageNotSupported,
            format!("query language {lang:?} is not supported; use WQL"),
        ))
    }
}

/// A literal in a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A string.
    String(String),
    /// An integer.
    Integer(i128),
    /// A real.
    Real(f64),
    /// `TRUE` / `FALSE`.
    Boolean(bool),
    /// `NULL`.
    Null,
}

/// An operand: a property path or a literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property, possibly dotted into embedded instances.
    Property(Vec<CimName>),
    /// A literal.
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompOp {
    /// `=`
    Eq,
    /// `<>` or `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A condition (the `WHERE` clause).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a OR b OR ...` (n-ary, so long chains do not deepen the tree)
    Or(Vec<Expr>),
    /// `a AND b AND ...`
    And(Vec<Expr>),
    /// `NOT a`
    Not(Box<Expr>),
    /// `a op b`
    Compare(Operand, CompOp, Operand),
    /// `a ISA Class`
    Isa(Operand, CimName),
    /// `a [NOT] LIKE pattern` (negated when the flag is set)
    Like(Operand, String, bool),
    /// `a IS [NOT] NULL` (negated when the flag is set)
    IsNull(Operand, bool),
    /// A bare operand: true when it is a true boolean.
    Truthy(Operand),
}

/// A parsed WQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The selected properties (`None` for `*`).
    pub select: Option<Vec<CimName>>,
    /// The `FROM` class.
    pub from: CimName,
    /// The `WHERE` condition.
    pub condition: Option<Expr>,
}

impl Query {
    /// Parses a WQL query.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.len() > 64 * 1024 {
            return Err(QueryError("query longer than 64 KiB".into()));
        }
        let mut pairs = WqlParser::parse(Rule::query, text).map_err(|e| {
            let e = e.renamed_rules(|r| format!("{r:?}").trim_start_matches("kw_").to_uppercase());
            QueryError(e.to_string().replace('\n', " "))
        })?;
        let query = pairs
            .next()
            .ok_or_else(|| QueryError("empty query".into()))?;
        let mut select = None;
        let mut from = None;
        let mut condition = None;
        for p in query.into_inner() {
            match p.as_rule() {
                Rule::select_list => {
                    let inner = p
                        .into_inner()
                        .next()
                        .ok_or_else(|| QueryError("empty select list".into()))?;
                    if inner.as_rule() == Rule::prop_list {
                        select = Some(
                            inner
                                .into_inner()
                                .map(|p| CimName::new(p.as_str()))
                                .collect(),
                        );
                    }
                }
                Rule::class_name => from = Some(CimName::new(p.as_str())),
                Rule::expr => condition = Some(lower_expr(p, 0)?),
                _ => {}
            }
        }
        Ok(Query {
            select,
            from: from.ok_or_else(|| QueryError("missing FROM class".into()))?,
            condition,
        })
    }

    /// The `FROM` class name.
    pub fn from_class(&self) -> &str {
        self.from.as_str()
    }

    /// True when the instance satisfies the `WHERE` condition (always, when
    /// there is none). `isa(sub, sup)` answers whether class `sub` is `sup`
    /// or a subclass of it (the caller knows the class hierarchy).
    pub fn matches(&self, inst: &Instance, isa: &dyn Fn(&str, &str) -> bool) -> bool {
        match &self.condition {
            None => true,
            Some(e) => eval(e, inst, isa) == Some(true),
        }
    }

    /// Keeps only the selected properties (all for `SELECT *`).
    pub fn project(&self, inst: &mut Instance) {
        if let Some(sel) = &self.select {
            inst.properties.retain(|p| sel.contains(&p.name));
        }
    }
}

const MAX_DEPTH: usize = 64;

fn is_kw(r: Rule) -> bool {
    matches!(
        r,
        Rule::kw_select
            | Rule::kw_from
            | Rule::kw_where
            | Rule::kw_and
            | Rule::kw_or
            | Rule::kw_not
            | Rule::kw_isa
            | Rule::kw_is
            | Rule::kw_like
            | Rule::kw_null
            | Rule::kw_true
            | Rule::kw_false
    )
}

fn children(p: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    p.into_inner().filter(|c| !is_kw(c.as_rule()))
}

fn lower_expr(p: Pair<'_, Rule>, depth: usize) -> Result<Expr, QueryError> {
    if depth > MAX_DEPTH {
        return Err(QueryError("condition nested too deeply".into()));
    }
    let d = depth + 1;
    match p.as_rule() {
        Rule::expr | Rule::term => {
            let is_or = p.as_rule() == Rule::expr;
            let mut it = children(p);
            let first = it
                .next()
                .ok_or_else(|| QueryError("empty condition".into()))?;
            let first = lower_expr(first, d)?;
            let rest = it
                .map(|n| lower_expr(n, d))
                .collect::<Result<Vec<_>, _>>()?;
            if rest.is_empty() {
                return Ok(first);
            }
            let mut all = Vec::with_capacity(rest.len() + 1);
            all.push(first);
            all.extend(rest);
            Ok(if is_or { Expr::Or(all) } else { Expr::And(all) })
        }
        Rule::factor | Rule::paren | Rule::predicate => {
            let inner = children(p)
                .next()
                .ok_or_else(|| QueryError("empty condition".into()))?;
            lower_expr(inner, d)
        }
        Rule::not_factor => {
            let inner = children(p)
                .next()
                .ok_or_else(|| QueryError("NOT without operand".into()))?;
            Ok(Expr::Not(Box::new(lower_expr(inner, d)?)))
        }
        Rule::isa_pred => {
            let mut it = children(p);
            let a = lower_operand(it.next())?;
            let c = it
                .next()
                .ok_or_else(|| QueryError("ISA without class".into()))?;
            Ok(Expr::Isa(a, CimName::new(c.as_str())))
        }
        Rule::null_pred => {
            let mut it = children(p);
            let a = lower_operand(it.next())?;
            let negated = it.any(|c| c.as_rule() == Rule::is_not);
            Ok(Expr::IsNull(a, negated))
        }
        Rule::like_pred => {
            let mut it = children(p);
            let a = lower_operand(it.next())?;
            let mut negated = false;
            let mut pattern = None;
            for c in it {
                match c.as_rule() {
                    Rule::like_not => negated = true,
                    Rule::string => pattern = Some(string_value(c)?),
                    _ => {}
                }
            }
            Ok(Expr::Like(
                a,
                pattern.ok_or_else(|| QueryError("LIKE without pattern".into()))?,
                negated,
            ))
        }
        Rule::comparison => {
            let mut it = children(p);
            let a = lower_operand(it.next())?;
            let op = match it.next().map(|o| o.as_str()) {
                Some("=") => CompOp::Eq,
                Some("<>") | Some("!=") => CompOp::Ne,
                Some("<") => CompOp::Lt,
                Some("<=") => CompOp::Le,
                Some(">") => CompOp::Gt,
                Some(">=") => CompOp::Ge,
                _ => return Err(QueryError("bad comparison operator".into())),
            };
            let b = lower_operand(it.next())?;
            Ok(Expr::Compare(a, op, b))
        }
        Rule::bare_operand => {
            let path = children(p)
                .next()
                .ok_or_else(|| QueryError("empty operand".into()))?;
            Ok(Expr::Truthy(Operand::Property(split_path(path.as_str()))))
        }
        r => Err(QueryError(format!("unexpected {r:?} in condition"))),
    }
}

fn split_path(s: &str) -> Vec<CimName> {
    s.split('.').map(CimName::new).collect()
}

fn lower_operand(p: Option<Pair<'_, Rule>>) -> Result<Operand, QueryError> {
    let p = p.ok_or_else(|| QueryError("missing operand".into()))?;
    let inner = if p.as_rule() == Rule::operand {
        children(p)
            .next()
            .ok_or_else(|| QueryError("empty operand".into()))?
    } else {
        p
    };
    match inner.as_rule() {
        Rule::prop_path => Ok(Operand::Property(split_path(inner.as_str()))),
        Rule::literal => {
            let lit = children(inner).next();
            let l = match lit {
                None => Literal::Null,
                Some(l) => match l.as_rule() {
                    Rule::string => Literal::String(string_value(l)?),
                    Rule::integer => Literal::Integer(parse_int(l.as_str())?),
                    Rule::real => Literal::Real(
                        l.as_str()
                            .parse()
                            .map_err(|_| QueryError(format!("bad real {}", l.as_str())))?,
                    ),
                    Rule::boolean => {
                        Literal::Boolean(l.as_str().trim().eq_ignore_ascii_case("true"))
                    }
                    _ => Literal::Null,
                },
            };
            Ok(Operand::Literal(l))
        }
        r => Err(QueryError(format!("unexpected {r:?} as operand"))),
    }
}

fn parse_int(s: &str) -> Result<i128, QueryError> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = if let Some(h) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        i128::from_str_radix(h, 16)
    } else {
        rest.parse::<i128>()
    }
    .map_err(|_| QueryError(format!("integer {s} out of range")))?;
    Ok(if neg { -v } else { v })
}

fn string_value(p: Pair<'_, Rule>) -> Result<String, QueryError> {
    let raw = p.as_str();
    let quote = raw.chars().next().unwrap_or('"');
    let body = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(o) => out.push(o),
                None => return Err(QueryError("dangling backslash in string".into())),
            }
        } else if c == '\'' && quote == '\'' && chars.peek() == Some(&'\'') {
            chars.next();
            out.push('\'');
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// A value during evaluation.
enum V<'a> {
    Null,
    Cim(&'a Value),
    Lit(&'a Literal),
}

fn lookup<'a>(inst: &'a Instance, path: &[CimName]) -> V<'a> {
    let Some((first, rest)) = path.split_first() else {
        return V::Null;
    };
    // A leading class qualifier (`CIM_Foo.Prop`) is tolerated when it names the instance's class.
    let (prop, rest) =
        if inst.property(first.as_str()).is_none() && !rest.is_empty() && inst.class_name == *first
        {
            (&rest[0], &rest[1..])
        } else {
            (first, rest)
        };
    match inst.get(prop.as_str()) {
        None | Some(Value::Null) => V::Null,
        Some(Value::Instance(emb)) if !rest.is_empty() => lookup(emb, rest),
        Some(v) if rest.is_empty() => V::Cim(v),
        Some(_) => V::Null,
    }
}

fn operand<'a>(o: &'a Operand, inst: &'a Instance) -> V<'a> {
    match o {
        Operand::Property(p) => lookup(inst, p),
        Operand::Literal(Literal::Null) => V::Null,
        Operand::Literal(l) => V::Lit(l),
    }
}

/// Comparable scalar forms.
enum S<'a> {
    Str(std::borrow::Cow<'a, str>),
    Int(i128),
    Real(f64),
    Bool(bool),
}

fn scalar<'a>(v: &V<'a>) -> Option<S<'a>> {
    match v {
        V::Null => None,
        V::Lit(Literal::String(s)) => Some(S::Str(s.as_str().into())),
        V::Lit(Literal::Integer(i)) => Some(S::Int(*i)),
        V::Lit(Literal::Real(r)) => Some(S::Real(*r)),
        V::Lit(Literal::Boolean(b)) => Some(S::Bool(*b)),
        V::Lit(Literal::Null) => None,
        V::Cim(v) => match v {
            Value::String(s) => Some(S::Str(s.as_str().into())),
            Value::Char16(c) => Some(S::Str(c.to_string().into())),
            Value::DateTime(d) => Some(S::Str(d.as_str().into())),
            Value::Boolean(b) => Some(S::Bool(*b)),
            Value::Real32(r) => Some(S::Real(*r as f64)),
            Value::Real64(r) => Some(S::Real(*r)),
            Value::Reference(p) => Some(S::Str(p.to_string().into())),
            other => other.as_i128().map(S::Int),
        },
    }
}

fn compare(a: &V<'_>, b: &V<'_>) -> Option<Ordering> {
    // References compare as paths (key order and case of names do not matter).
    if let (V::Cim(Value::Reference(p)), V::Lit(Literal::String(s)))
    | (V::Lit(Literal::String(s)), V::Cim(Value::Reference(p))) = (a, b)
    {
        let q = cim::ObjectPath::parse(s).ok()?;
        return (p.local() == q.local())
            .then_some(Ordering::Equal)
            .or(Some(Ordering::Less));
    }
    match (scalar(a)?, scalar(b)?) {
        (S::Str(x), S::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (S::Int(x), S::Int(y)) => Some(x.cmp(&y)),
        (S::Int(x), S::Real(y)) => (x as f64).partial_cmp(&y),
        (S::Real(x), S::Int(y)) => x.partial_cmp(&(y as f64)),
        (S::Real(x), S::Real(y)) => x.partial_cmp(&y),
        (S::Bool(x), S::Bool(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

/// SQL LIKE: `%` any run, `_` one character, `\` escapes the next character.
pub fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative matcher with backtracking to the last `%`.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '%' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '_' => {
                    ti += 1;
                    pi += 1;
                    continue;
                }
                '\\' if pi + 1 < p.len() && p[pi + 1] == t[ti] => {
                    ti += 1;
                    pi += 2;
                    continue;
                }
                // An escaped character that does not match: backtrack below.
                '\\' if pi + 1 < p.len() => {}
                c if c == t[ti] => {
                    ti += 1;
                    pi += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '%')
}

fn eval(e: &Expr, inst: &Instance, isa: &dyn Fn(&str, &str) -> bool) -> Option<bool> {
    match e {
        // SQL three-valued logic: TRUE wins an OR, FALSE wins an AND.
        Expr::Or(items) => {
            let mut unknown = false;
            for i in items {
                match eval(i, inst, isa) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
        Expr::And(items) => {
            let mut unknown = false;
            for i in items {
                match eval(i, inst, isa) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Expr::Not(a) => eval(a, inst, isa).map(|v| !v),
        Expr::Compare(a, op, b) => {
            let ord = compare(&operand(a, inst), &operand(b, inst))?;
            Some(match op {
                CompOp::Eq => ord == Ordering::Equal,
                CompOp::Ne => ord != Ordering::Equal,
                CompOp::Lt => ord == Ordering::Less,
                CompOp::Le => ord != Ordering::Greater,
                CompOp::Gt => ord == Ordering::Greater,
                CompOp::Ge => ord != Ordering::Less,
            })
        }
        Expr::Isa(a, class) => {
            // `ISA` on the instance itself, named by its class or a superclass
            // (`SELECT * FROM X WHERE X ISA Y`).
            let subject = match a {
                Operand::Property(p)
                    if p.len() == 1
                        && inst.property(p[0].as_str()).is_none()
                        && isa(inst.class_name.as_str(), p[0].as_str()) =>
                {
                    Some(inst.class_name.as_str().to_owned())
                }
                _ => match operand(a, inst) {
                    V::Cim(Value::Instance(i)) => Some(i.class_name.as_str().to_owned()),
                    V::Cim(Value::Reference(p)) => Some(p.class_name.as_str().to_owned()),
                    V::Cim(Value::Class(c)) => Some(c.name.as_str().to_owned()),
                    V::Null => return None,
                    _ => return Some(false),
                },
            };
            subject.map(|s| isa(&s, class.as_str()))
        }
        Expr::Like(a, pattern, negated) => match operand(a, inst) {
            V::Cim(Value::String(s)) => Some(like(s, pattern) != *negated),
            V::Lit(Literal::String(s)) => Some(like(s, pattern) != *negated),
            V::Null => None,
            _ => Some(false),
        },
        Expr::IsNull(a, negated) => Some(matches!(operand(a, inst), V::Null) != *negated),
        Expr::Truthy(a) => match operand(a, inst) {
            V::Cim(Value::Boolean(b)) => Some(*b),
            V::Null => None,
            _ => Some(false),
        },
    }
}
