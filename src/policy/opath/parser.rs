//! Recursive-descent parser: `-or` < `-and` < `-not` < parentheses / comparisons.
//!
//! Nesting (parentheses and `-not`, where `-not (` counts once) is capped at [`MAX_DEPTH`], and
//! input length at [`MAX_INPUT_BYTES`], so no input can exhaust the stack.

use super::ast::Expr;
use super::comparison;
use super::error::FilterError;
use super::lexer::{Lexer, Token, TokenKind};

/// Deepest nesting of parentheses and `-not` accepted.
pub const MAX_DEPTH: usize = 64;
/// Longest filter text accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 16 * 1024;

pub(super) fn parse(input: &str) -> Result<Expr, FilterError> {
    if input.len() > MAX_INPUT_BYTES {
        let pos = input.char_indices().take_while(|(b, _)| *b < MAX_INPUT_BYTES).count();
        return Err(FilterError::new(
            pos,
            format!("filter is too long: {} bytes, at most {MAX_INPUT_BYTES} are accepted", input.len()),
        ));
    }
    let mut p = Parser { lexer: Lexer::new(input), peeked: None, depth: 0 };
    p.filter()
}

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
    depth: usize,
}

fn empty_filter(pos: usize, what: &str) -> FilterError {
    FilterError::new(pos, format!("empty filter: expected a comparison such as Department -eq 'Finance', found {what}"))
}

impl Parser {
    fn peek(&mut self) -> Result<&Token, FilterError> {
        let tok = match self.peeked.take() {
            Some(t) => t,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(tok))
    }

    fn next(&mut self) -> Result<Token, FilterError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn filter(&mut self) -> Result<Expr, FilterError> {
        let first = self.peek()?.clone();
        match first.kind {
            TokenKind::Eof => Err(empty_filter(first.pos, "end of input")),
            TokenKind::LBrace => {
                self.next()?;
                let inner = self.peek()?.clone();
                if matches!(inner.kind, TokenKind::RBrace | TokenKind::Eof) {
                    return Err(empty_filter(inner.pos, &inner.describe()));
                }
                let expr = self.expr()?;
                let close = self.next()?;
                if close.kind != TokenKind::RBrace {
                    return Err(self.unexpected_after_expr(
                        &close,
                        &format!("expected `}}` to close the `{{` at position {}", first.pos),
                    ));
                }
                let end = self.next()?;
                if end.kind != TokenKind::Eof {
                    return Err(FilterError::new(
                        end.pos,
                        format!("unexpected {} after the closing `}}`; expected end of input", end.describe()),
                    ));
                }
                Ok(expr)
            }
            _ => {
                let expr = self.expr()?;
                let end = self.next()?;
                if end.kind != TokenKind::Eof {
                    return Err(self.unexpected_after_expr(&end, "expected end of input"));
                }
                Ok(expr)
            }
        }
    }

    /// Error for a token that follows a complete expression but cannot continue it.
    fn unexpected_after_expr(&self, tok: &Token, expected: &str) -> FilterError {
        let message = match tok.kind {
            TokenKind::RParen => "unbalanced parentheses: `)` has no matching `(`".to_string(),
            TokenKind::RBrace => "unexpected `}` with no matching `{`".to_string(),
            TokenKind::Eof => format!("{expected}, found end of input"),
            _ => format!("unexpected {} after a complete comparison; {expected}, -and or -or", tok.describe()),
        };
        FilterError::new(tok.pos, message)
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::new(
                pos,
                format!("filter is nested too deeply: at most {MAX_DEPTH} levels of parentheses and -not"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.peek()?.is_dash("or") {
            self.next()?;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.peek()?.is_dash("and") {
            self.next()?;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        let tok = self.peek()?.clone();
        if tok.is_dash("not") {
            self.next()?;
            self.enter(tok.pos)?;
            let inner = if self.peek()?.kind == TokenKind::LParen { self.paren_group() } else { self.unary() };
            self.leave();
            return Ok(Expr::Not(Box::new(inner?)));
        }
        if tok.kind == TokenKind::LParen {
            self.enter(tok.pos)?;
            let inner = self.paren_group();
            self.leave();
            return inner;
        }
        self.comparison()
    }

    /// `( expr )`, the `(` being the next token.
    fn paren_group(&mut self) -> Result<Expr, FilterError> {
        let open = self.next()?;
        if self.peek()?.kind == TokenKind::RParen {
            let close = self.peek()?.pos;
            return Err(FilterError::new(
                close,
                "empty parentheses: expected a comparison such as Department -eq 'Finance', found `)`",
            ));
        }
        let inner = self.expr()?;
        let close = self.next()?;
        if close.kind != TokenKind::RParen {
            let message = match close.kind {
                TokenKind::Eof => format!(
                    "unbalanced parentheses: expected `)` to close the `(` at position {}, found end of input",
                    open.pos
                ),
                _ => format!(
                    "expected `)` to close the `(` at position {}, -and or -or, found {}",
                    open.pos,
                    close.describe()
                ),
            };
            return Err(FilterError::new(close.pos, message));
        }
        Ok(inner)
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let prop_tok = self.next()?;
        let property = comparison::property(&prop_tok)?;
        let op_tok = self.next()?;
        let op = comparison::operator(&op_tok, property)?;
        let val_tok = self.next()?;
        let value = comparison::value(&val_tok, op)?;
        comparison::check_member_of_group(property, op, &op_tok, &val_tok, &value)?;
        Ok(Expr::compare(property, op, value))
    }
}
