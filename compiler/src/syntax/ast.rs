//! The typed syntax tree that the parser produces and every later stage reads; spans on every node.

use serde::Serialize;

use crate::source::{FileId, Span};

/// A name as written, with where it was written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Module {
    pub file: FileId,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    Source(Source),
    Entity(Entity),
    Group(Group),
    Lambda(LambdaBlock),
}

impl Item {
    pub fn name(&self) -> &Ident {
        match self {
            Item::Source(s) => &s.name,
            Item::Entity(e) => &e.name,
            Item::Group(g) => &g.name,
            Item::Lambda(l) => &l.group,
        }
    }

    pub fn span(&self) -> Span {
        match self {
            Item::Source(s) => s.span,
            Item::Entity(e) => e.span,
            Item::Group(g) => g.span,
            Item::Lambda(l) => l.span,
        }
    }
}

/// `source NAME { ... }`: an event stream with its schema and bindings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Source {
    pub name: Ident,
    pub props: Vec<SourceProp>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceProp {
    pub kind: SourcePropKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourcePropKind {
    EventTime(Ident),
    Lateness(Duration),
    Files { path: StrLit, format: Option<Ident>, pin: Option<PinLit> },
    Topic(StrLit),
    Schema(Vec<Field>),
}

/// `version N` or `as_of "time"` after a Delta table's `files`: the version the source reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinLit {
    Version { version: u64, span: Span },
    AsOf(StrLit),
}

impl PinLit {
    pub fn span(&self) -> Span {
        match self {
            PinLit::Version { span, .. } => *span,
            PinLit::AsOf(s) => s.span,
        }
    }
}

impl SourcePropKind {
    /// The keyword that introduces the property.
    pub fn keyword(&self) -> &'static str {
        match self {
            SourcePropKind::EventTime(_) => "event_time",
            SourcePropKind::Lateness(_) => "lateness",
            SourcePropKind::Files { .. } => "files",
            SourcePropKind::Topic(_) => "topic",
            SourcePropKind::Schema(_) => "schema",
        }
    }
}

/// `name: type` in a schema or an entity key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    pub name: Ident,
    pub ty: TypeRef,
    pub span: Span,
}

/// A type as written: `f64`, `string?`, `list<string>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeRef {
    pub name: Ident,
    pub arg: Option<Box<TypeRef>>,
    pub nullable: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// `entity NAME { key a: T, b: U }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entity {
    pub name: Ident,
    /// One entry per `key` line; more than one is an error the checker reports.
    pub key_decls: Vec<KeyDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyDecl {
    pub fields: Vec<Field>,
    pub span: Span,
}

impl Entity {
    /// The key fields, from the first `key` line.
    pub fn keys(&self) -> &[Field] {
        self.key_decls.first().map_or(&[], |k| &k.fields)
    }
}

/// `features NAME(entity) from source [where filter] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub name: Ident,
    pub entity: Ident,
    pub source: Ident,
    pub filter: Option<Expr>,
    pub features: Vec<Feature>,
    pub span: Span,
}

/// `name = expr [where filter] [over window]`.
///
/// With a window it is an aggregate feature (`expr` is one aggregate call); without one it is a
/// derived feature, an expression over the group's other features.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Feature {
    pub name: Ident,
    pub expr: Expr,
    pub filter: Option<Expr>,
    pub window: Option<Window>,
    pub span: Span,
}

/// `lifetime`, `tumbling(1h)`, `sliding(5m, every: 1m)`, `session(30m)` as written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    pub kind: Ident,
    /// `None` when written without parentheses.
    pub args: Option<Vec<WindowArg>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowArg {
    pub name: Option<Ident>,
    pub value: Duration,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationUnit {
    Ms,
    S,
    M,
    H,
    D,
}

impl DurationUnit {
    pub fn millis(self) -> u64 {
        match self {
            DurationUnit::Ms => 1,
            DurationUnit::S => 1_000,
            DurationUnit::M => 60_000,
            DurationUnit::H => 3_600_000,
            DurationUnit::D => 86_400_000,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            DurationUnit::Ms => "ms",
            DurationUnit::S => "s",
            DurationUnit::M => "m",
            DurationUnit::H => "h",
            DurationUnit::D => "d",
        }
    }
}

/// `10m` as written. `millis` is `None` when the amount overflows 64 bits of milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duration {
    pub amount: u64,
    pub unit: DurationUnit,
    pub millis: Option<u64>,
    pub span: Span,
}

impl Duration {
    pub fn new(amount: u64, unit: DurationUnit, span: Span) -> Self {
        Duration { amount, unit, millis: amount.checked_mul(unit.millis()), span }
    }
}

/// `lambda GROUP { batch every D; merge patterns = rule }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LambdaBlock {
    pub group: Ident,
    pub stmts: Vec<LambdaStmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LambdaStmt {
    pub kind: LambdaStmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaStmtKind {
    BatchEvery(Duration),
    Merge { patterns: Vec<Ident>, rule: MergeRule, rule_span: Span },
}

pub use crate::ir::MergeRule;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    Null,
    /// A duration where a value was expected; always an error, kept to say so precisely.
    Duration(Duration),
    Name(Ident),
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    Cast {
        expr: Box<Expr>,
        ty: TypeRef,
    },
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
}

pub use crate::ir::{BinOp, UnaryOp, prec};

impl Expr {
    /// Visits this expression and every sub-expression, parents first.
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            ExprKind::Unary { expr, .. } | ExprKind::IsNull { expr, .. } | ExprKind::Cast { expr, .. } => expr.walk(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            ExprKind::InList { expr, list, .. } => {
                expr.walk(f);
                list.iter().for_each(|a| a.walk(f));
            }
            ExprKind::If { cond, then, otherwise } => {
                cond.walk(f);
                then.walk(f);
                otherwise.walk(f);
            }
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Duration(_)
            | ExprKind::Name(_) => {}
        }
    }
}
