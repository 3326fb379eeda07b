//! Small constructors for sqlparser's AST, and featc expressions translated into it.
//!
//! SQL is built as a tree and printed by sqlparser; nothing here pastes SQL text together.

use sqlparser::ast::{
    self as sql, BinaryOperator, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, OrderByExpr,
    OrderByOptions, SelectItem, SetExpr, Statement, TableFactor, UnaryOperator, Value,
};
use sqlparser::parser::Parser;

use super::Dialect;
use crate::ir::{BinOp, Expr as IExpr, IrExpr, Literal, ScalarFn, UnaryOp};
use crate::types::Ty;

pub(super) fn ident(d: Dialect, name: &str) -> Ident {
    Ident::with_quote(d.quote(), name)
}

pub(super) fn col(d: Dialect, name: &str) -> Expr {
    Expr::Identifier(ident(d, name))
}

pub(super) fn int(v: i64) -> Expr {
    if v < 0 {
        return Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: Box::new(int(v.unsigned_abs().try_into().unwrap_or(i64::MAX))),
        };
    }
    Expr::Value(Value::Number(v.to_string(), false).with_empty_span())
}

fn float(v: f64) -> Expr {
    let text = crate::format::float_text(v.abs());
    let e = Expr::Value(Value::Number(text, false).with_empty_span());
    if v < 0.0 { Expr::UnaryOp { op: UnaryOperator::Minus, expr: Box::new(e) } } else { e }
}

pub(super) fn string(s: &str) -> Expr {
    Expr::Value(Value::SingleQuotedString(s.to_owned()).with_empty_span())
}

pub(super) fn placeholder(name: &str) -> Expr {
    Expr::Value(Value::Placeholder(name.to_owned()).with_empty_span())
}

pub(super) fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp { left: Box::new(left), op, right: Box::new(right) }
}

pub(super) fn nested(e: Expr) -> Expr {
    match e {
        Expr::Identifier(_) | Expr::Value(_) | Expr::Function(_) | Expr::Nested(_) | Expr::Cast { .. } => e,
        other => Expr::Nested(Box::new(other)),
    }
}

pub(super) fn and_all(mut parts: Vec<Expr>) -> Option<Expr> {
    let first = if parts.is_empty() { return None } else { parts.remove(0) };
    Some(parts.into_iter().fold(first, |acc, p| binary(nested(acc), BinaryOperator::And, nested(p))))
}

pub(super) fn cast(e: Expr, data_type: DataType) -> Expr {
    Expr::Cast { kind: CastKind::Cast, expr: Box::new(e), data_type, array: false, format: None }
}

/// A function call, with an optional `ORDER BY` inside the arguments and a `FILTER`.
pub(super) fn call_with(name: &str, args: Vec<Expr>, order_by: Vec<(Expr, bool)>, filter: Option<Expr>) -> Expr {
    let mut clauses = Vec::new();
    if !order_by.is_empty() {
        clauses.push(FunctionArgumentClause::OrderBy(
            order_by
                .into_iter()
                .map(|(expr, asc)| OrderByExpr {
                    expr,
                    options: OrderByOptions { asc: Some(asc), nulls_first: None },
                    with_fill: None,
                })
                .collect(),
        ));
    }
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses,
        }),
        filter: filter.map(Box::new),
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// The lambda `param -> param.field`.
pub(super) fn field_of(param: &str, field: &str) -> Expr {
    Expr::Lambda(sql::LambdaFunction {
        params: sql::OneOrManyWithParens::One(sql::LambdaFunctionParameter {
            name: Ident::new(param),
            data_type: None,
        }),
        body: Box::new(Expr::CompoundIdentifier(vec![Ident::new(param), Ident::new(field)])),
        syntax: sql::LambdaSyntax::Arrow,
    })
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    call_with(name, args, vec![], None)
}

/// `COUNT(*)`, with an optional `FILTER`.
pub(super) fn count_star(filter: Option<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new("COUNT")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Wildcard)],
            clauses: vec![],
        }),
        filter: filter.map(Box::new),
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

pub(super) fn data_type(d: Dialect, ty: &Ty) -> DataType {
    match ty {
        Ty::String => {
            if d == Dialect::DataFusion {
                DataType::Varchar(None)
            } else {
                DataType::String(None)
            }
        }
        Ty::Bool => DataType::Boolean,
        Ty::I64 | Ty::Null => DataType::BigInt(None),
        Ty::F64 => DataType::Double(sql::ExactNumberInfo::None),
        // Flink's `TIMESTAMP` is microseconds; featc's times are milliseconds.
        Ty::Timestamp if d == Dialect::Flink => DataType::Timestamp(Some(3), sql::TimezoneInfo::None),
        Ty::Timestamp => DataType::Timestamp(None, sql::TimezoneInfo::None),
        Ty::List(_) => DataType::String(None),
    }
}

/// `SELECT 1 FROM t`, parsed: a statement with every field sqlparser has at its default.
fn skeleton(d: Dialect) -> Option<Statement> {
    Parser::parse_sql(d.parser_dialect().as_ref(), "SELECT 1 FROM t").ok()?.pop()
}

/// A `SELECT ... FROM table WHERE ... GROUP BY ...` statement, built on the skeleton.
pub(super) fn select(
    d: Dialect,
    projection: Vec<(Expr, String)>,
    from: TableFactor,
    selection: Option<Expr>,
    group_by: Vec<Expr>,
) -> Option<Statement> {
    let mut statement = skeleton(d)?;
    let Statement::Query(query) = &mut statement else { return None };
    let SetExpr::Select(s) = query.body.as_mut() else { return None };
    s.projection = projection
        .into_iter()
        .map(|(expr, alias)| match &expr {
            Expr::Identifier(i) if i.value == alias => SelectItem::UnnamedExpr(expr),
            _ => SelectItem::ExprWithAlias { expr, alias: ident(d, &alias) },
        })
        .collect();
    s.from.first_mut()?.relation = from;
    s.selection = selection;
    s.group_by = GroupByExpr::Expressions(group_by, vec![]);
    Some(statement)
}

/// The table a statement reads: a plain table name.
pub(super) fn table(d: Dialect, name: &str) -> Option<TableFactor> {
    let Statement::Query(q) = skeleton(d)? else { return None };
    let SetExpr::Select(s) = *q.body else { return None };
    let mut factor = s.from.into_iter().next()?.relation;
    if let TableFactor::Table { name: n, .. } = &mut factor {
        *n = ObjectName::from(vec![ident(d, name)]);
    }
    Some(factor)
}

/// `CREATE [OR REPLACE] TEMPORARY VIEW name AS SELECT projection FROM source`: a source's
/// fields in the spec's types, in a job.
pub(super) fn temporary_view(
    d: Dialect,
    name: &str,
    projection: Vec<(Expr, String)>,
    source: &str,
    or_replace: bool,
) -> Result<Statement, String> {
    let from = table(d, source).ok_or("cannot build the view")?;
    let Some(Statement::Query(query)) = select(d, projection, from, None, vec![]) else {
        return Err("cannot build the view".to_owned());
    };
    Ok(Statement::CreateView(sql::CreateView {
        or_alter: false,
        or_replace,
        materialized: false,
        secure: false,
        name: ObjectName::from(vec![ident(d, name)]),
        name_before_not_exists: false,
        columns: Vec::new(),
        query,
        options: sql::CreateTableOptions::None,
        cluster_by: vec![],
        comment: None,
        with_no_schema_binding: false,
        if_not_exists: false,
        temporary: true,
        to: None,
        params: None,
        copy_grants: false,
    }))
}

/// The `__featc_bad_<field>` flag of a text field: its text present, its typed value null.
pub(super) fn bad_value(raw: &Expr, typed: &Expr) -> Option<Expr> {
    and_all(vec![Expr::IsNotNull(Box::new(raw.clone())), Expr::IsNull(Box::new(nested(typed.clone())))])
}

/// A subquery in `FROM`: `(query) AS alias`.
pub(super) fn derived(d: Dialect, query: Statement, alias: &str) -> Option<TableFactor> {
    let Statement::Query(query) = query else { return None };
    Some(TableFactor::Derived {
        lateral: false,
        subquery: query,
        alias: Some(sql::TableAlias { explicit: true, name: ident(d, alias), columns: vec![], at: None }),
        sample: None,
    })
}

/// A featc expression over a group's columns, in SQL.
pub(super) fn expr(d: Dialect, columns: &[String], e: &IrExpr) -> Expr {
    tree(d, columns, &e.tree)
}

fn tree(d: Dialect, columns: &[String], e: &IExpr) -> Expr {
    let sub = |x: &IExpr| tree(d, columns, x);
    match e {
        IExpr::Lit(Literal::I64(v)) => int(*v),
        IExpr::Lit(Literal::F64(v)) => float(*v),
        IExpr::Lit(Literal::Str(s)) => string(s),
        IExpr::Lit(Literal::Bool(b)) => Expr::Value(Value::Boolean(*b).with_empty_span()),
        IExpr::Lit(Literal::Null) => Expr::Value(Value::Null.with_empty_span()),
        IExpr::Column(i) => col(d, columns.get(*i).map_or("", String::as_str)),
        IExpr::Call(func, args) => {
            let name = match (d, func) {
                (Dialect::Flink, ScalarFn::Length) => "CHAR_LENGTH",
                (_, ScalarFn::Coalesce) => "COALESCE",
                (_, ScalarFn::Abs) => "ABS",
                (_, ScalarFn::Sqrt) => "SQRT",
                (_, ScalarFn::Ln) => "LN",
                (_, ScalarFn::Round) => "ROUND",
                (_, ScalarFn::Lower) => "LOWER",
                (_, ScalarFn::Upper) => "UPPER",
                (_, ScalarFn::Length) => "LENGTH",
            };
            call(name, args.iter().map(sub).collect())
        }
        IExpr::Unary(op, inner) => Expr::UnaryOp {
            op: if *op == UnaryOp::Neg { UnaryOperator::Minus } else { UnaryOperator::Not },
            expr: Box::new(nested(sub(inner))),
        },
        IExpr::Binary(op, lhs, rhs) => {
            let l = nested(sub(lhs));
            let r = nested(sub(rhs));
            match op {
                // featc divides in f64 whatever the operands, and by zero gives null.
                BinOp::Div => binary(
                    cast(l, DataType::Double(sql::ExactNumberInfo::None)),
                    BinaryOperator::Divide,
                    call("NULLIF", vec![r, int(0)]),
                ),
                _ => binary(l, binary_op(*op), r),
            }
        }
        IExpr::InList { expr: inner, list, negated } => {
            Expr::InList { expr: Box::new(nested(sub(inner))), list: list.iter().map(sub).collect(), negated: *negated }
        }
        IExpr::IsNull { expr: inner, negated } => {
            let inner = Box::new(nested(sub(inner)));
            if *negated { Expr::IsNotNull(inner) } else { Expr::IsNull(inner) }
        }
        IExpr::Cast { expr: inner, to } => {
            let value = sub(inner);
            match to {
                Ty::Timestamp => d.millis_to_timestamp(value),
                _ => cast(value, data_type(d, to)),
            }
        }
        IExpr::If { cond, then, otherwise } => Expr::Case {
            case_token: sql::helpers::attached_token::AttachedToken::empty(),
            end_token: sql::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![sql::CaseWhen { condition: sub(cond), result: sub(then) }],
            else_result: Some(Box::new(sub(otherwise))),
        },
    }
}

fn binary_op(op: BinOp) -> BinaryOperator {
    match op {
        BinOp::Or => BinaryOperator::Or,
        BinOp::And => BinaryOperator::And,
        BinOp::Eq => BinaryOperator::Eq,
        BinOp::Ne => BinaryOperator::NotEq,
        BinOp::Lt => BinaryOperator::Lt,
        BinOp::Le => BinaryOperator::LtEq,
        BinOp::Gt => BinaryOperator::Gt,
        BinOp::Ge => BinaryOperator::GtEq,
        BinOp::Add => BinaryOperator::Plus,
        BinOp::Sub => BinaryOperator::Minus,
        BinOp::Mul => BinaryOperator::Multiply,
        BinOp::Div => BinaryOperator::Divide,
        BinOp::Rem => BinaryOperator::Modulo,
    }
}
