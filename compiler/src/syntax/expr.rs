//! An `expr` pair (a flat run of operators and operands) in, an [`Expr`] tree out, by precedence.

use pest::iterators::Pair;

use super::ast::*;
use super::parser::{Cx, MAX_NESTING, Rule};
use crate::problem::Problem;

/// One element of the flat sequence the grammar produces for an expression.
enum Tok<'i> {
    Prefix(UnaryOp, Pair<'i, Rule>),
    Operand(Pair<'i, Rule>),
    Postfix(Pair<'i, Rule>),
    Infix(BinOp),
}

pub(super) struct ExprBuilder<'c, 't> {
    cx: &'c mut Cx<'t>,
    failed: bool,
}

/// An expression and the depth of its tree, which later passes recurse over.
type Built = (Expr, usize);

impl<'c, 't> ExprBuilder<'c, 't> {
    pub(super) fn new(cx: &'c mut Cx<'t>) -> Self {
        ExprBuilder { cx, failed: false }
    }

    pub(super) fn build(mut self, pair: Pair<'_, Rule>) -> Option<Expr> {
        let built = self.expr(pair, 0);
        if self.failed { None } else { built.map(|(e, _)| e) }
    }

    fn expr(&mut self, pair: Pair<'_, Rule>, depth: usize) -> Option<Built> {
        let toks: Vec<Tok<'_>> = pair.into_inner().filter_map(tok).collect();
        let mut pos = 0;
        let built = self.climb(&toks, &mut pos, 0, depth);
        if let Some((e, d)) = &built
            && *d > MAX_NESTING
        {
            self.cx.problems.push(Problem::NestedTooDeeply { span: e.span, limit: MAX_NESTING });
            self.failed = true;
            return None;
        }
        built
    }

    /// Precedence climbing: parses operands and operators from `pos` while they bind at least as
    /// tightly as `min_prec`. Left-associative infix operators loop instead of recursing.
    fn climb(&mut self, toks: &[Tok<'_>], pos: &mut usize, min_prec: u8, depth: usize) -> Option<Built> {
        if depth > MAX_NESTING {
            self.too_deep(toks.get(*pos));
            return None;
        }
        let (mut lhs, mut lhs_depth) = match toks.get(*pos)? {
            Tok::Prefix(op, pair) => {
                *pos += 1;
                let prec = if *op == UnaryOp::Not { prec::NOT } else { prec::NEG };
                let (operand, d) = self.climb(toks, pos, prec, depth + 1)?;
                let span = self.cx.span(pair).to(operand.span);
                (Expr { kind: ExprKind::Unary { op: *op, expr: Box::new(operand) }, span }, d + 1)
            }
            Tok::Operand(pair) => {
                *pos += 1;
                self.operand(pair.clone(), depth)?
            }
            Tok::Postfix(_) | Tok::Infix(_) => return None,
        };
        loop {
            match toks.get(*pos) {
                Some(Tok::Postfix(pair)) => {
                    let prec = if pair.as_rule() == Rule::cast { prec::CAST } else { prec::CMP };
                    if prec < min_prec {
                        break;
                    }
                    *pos += 1;
                    let (next, d) = self.postfix(lhs, pair.clone(), depth)?;
                    lhs = next;
                    lhs_depth = lhs_depth.max(d) + 1;
                }
                Some(Tok::Infix(op)) => {
                    let prec = op.precedence();
                    if prec < min_prec {
                        break;
                    }
                    *pos += 1;
                    let (rhs, d) = self.climb(toks, pos, prec + 1, depth + 1)?;
                    let span = lhs.span.to(rhs.span);
                    lhs = Expr { kind: ExprKind::Binary { op: *op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
                    lhs_depth = lhs_depth.max(d) + 1;
                }
                _ => break,
            }
            if lhs_depth > MAX_NESTING {
                if !self.failed {
                    self.cx.problems.push(Problem::NestedTooDeeply { span: lhs.span, limit: MAX_NESTING });
                }
                self.failed = true;
                return None;
            }
        }
        Some((lhs, lhs_depth))
    }

    /// Reports nesting past the limit, once per expression, at the token where it happens.
    fn too_deep(&mut self, at: Option<&Tok<'_>>) {
        if !self.failed {
            let span = match at {
                Some(Tok::Prefix(_, p) | Tok::Operand(p) | Tok::Postfix(p)) => self.cx.span(p),
                _ => self.cx.span_at(0, 0),
            };
            self.cx.problems.push(Problem::NestedTooDeeply { span, limit: MAX_NESTING });
        }
        self.failed = true;
    }

    fn postfix(&mut self, operand: Expr, pair: Pair<'_, Rule>, depth: usize) -> Option<Built> {
        let span = operand.span.to(self.cx.span(&pair));
        let rule = pair.as_rule();
        let mut sub_depth = 0;
        let kind = match rule {
            Rule::cast => {
                let ty = pair.into_inner().find(|p| p.as_rule() == Rule::type_ref)?;
                ExprKind::Cast { expr: Box::new(operand), ty: self.cx.type_ref(ty) }
            }
            Rule::in_list | Rule::not_in_list => {
                let mut list = Vec::new();
                for item in pair.into_inner().filter(|p| p.as_rule() == Rule::expr) {
                    let (e, d) = self.expr(item, depth + 1)?;
                    sub_depth = sub_depth.max(d);
                    list.push(e);
                }
                ExprKind::InList { expr: Box::new(operand), list, negated: rule == Rule::not_in_list }
            }
            _ => ExprKind::IsNull { expr: Box::new(operand), negated: rule == Rule::is_not_null },
        };
        Some((Expr { kind, span }, sub_depth))
    }

    fn operand(&mut self, pair: Pair<'_, Rule>, depth: usize) -> Option<Built> {
        let span = self.cx.span(&pair);
        let leaf = |kind| Some((Expr { kind, span }, 1));
        match pair.as_rule() {
            Rule::int => match pair.as_str().parse::<i64>() {
                Ok(v) => leaf(ExprKind::Int(v)),
                Err(_) => {
                    self.cx.problems.push(Problem::InvalidLiteral { span, reason: "integer too large for i64" });
                    self.failed = true;
                    None
                }
            },
            Rule::float => match pair.as_str().parse::<f64>() {
                Ok(v) if v.is_finite() => leaf(ExprKind::Float(v)),
                _ => {
                    self.cx.problems.push(Problem::InvalidLiteral { span, reason: "number too large for f64" });
                    self.failed = true;
                    None
                }
            },
            Rule::string => {
                let raw = pair.clone().into_inner().next().map_or("", |p| p.as_str());
                match super::parser::unescape(raw) {
                    Ok(v) => leaf(ExprKind::Str(v)),
                    Err(reason) => {
                        self.cx.problems.push(Problem::InvalidLiteral { span, reason });
                        self.failed = true;
                        None
                    }
                }
            }
            Rule::duration_literal => {
                let d = self.cx.duration(&pair);
                leaf(ExprKind::Duration(d))
            }
            Rule::kw_true => leaf(ExprKind::Bool(true)),
            Rule::kw_false => leaf(ExprKind::Bool(false)),
            Rule::kw_null => leaf(ExprKind::Null),
            Rule::ident => leaf(ExprKind::Name(self.cx.ident(&pair))),
            Rule::call => {
                let mut inner = pair.into_inner();
                let func = self.cx.ident(&inner.next()?);
                let mut args = Vec::new();
                let mut d = 0;
                for arg in inner {
                    let (e, ad) = self.expr(arg, depth + 1)?;
                    d = d.max(ad);
                    args.push(e);
                }
                Some((Expr { kind: ExprKind::Call { func, args }, span }, d + 1))
            }
            Rule::if_expr => {
                let parts: Vec<_> = pair.into_inner().filter(|p| p.as_rule() == Rule::expr).collect();
                let [c, t, o] = <[_; 3]>::try_from(parts).ok()?;
                let (cond, d1) = self.expr(c, depth + 1)?;
                let (then, d2) = self.expr(t, depth + 1)?;
                let (otherwise, d3) = self.expr(o, depth + 1)?;
                let kind = ExprKind::If { cond: Box::new(cond), then: Box::new(then), otherwise: Box::new(otherwise) };
                Some((Expr { kind, span }, d1.max(d2).max(d3) + 1))
            }
            Rule::expr => {
                // Parenthesised: the span covers the parentheses' content.
                self.expr(pair, depth + 1)
            }
            _ => None,
        }
    }
}

fn tok(pair: Pair<'_, Rule>) -> Option<Tok<'_>> {
    let op = |op| Some(Tok::Infix(op));
    match pair.as_rule() {
        Rule::neg => Some(Tok::Prefix(UnaryOp::Neg, pair)),
        Rule::not => Some(Tok::Prefix(UnaryOp::Not, pair)),
        Rule::or => op(BinOp::Or),
        Rule::and => op(BinOp::And),
        Rule::eq => op(BinOp::Eq),
        Rule::ne => op(BinOp::Ne),
        Rule::lt => op(BinOp::Lt),
        Rule::le => op(BinOp::Le),
        Rule::gt => op(BinOp::Gt),
        Rule::ge => op(BinOp::Ge),
        Rule::add => op(BinOp::Add),
        Rule::sub => op(BinOp::Sub),
        Rule::mul => op(BinOp::Mul),
        Rule::div => op(BinOp::Div),
        Rule::rem => op(BinOp::Rem),
        Rule::cast | Rule::in_list | Rule::not_in_list | Rule::is_null | Rule::is_not_null => Some(Tok::Postfix(pair)),
        _ => Some(Tok::Operand(pair)),
    }
}
