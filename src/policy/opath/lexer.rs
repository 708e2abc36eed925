//! Splits filter text into tokens, one at a time, with character positions.

use super::error::FilterError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenKind {
    LParen,
    RParen,
    LBrace,
    RBrace,
    /// `-word`: an operator such as `-eq` or `-and` (the letters after the dash, as written).
    Dash(String),
    /// A bare word: a property name or an unquoted value.
    Word(String),
    /// A quoted string, quotes removed and doubled quotes collapsed.
    Str(String),
    /// Any character the language has no use for, such as `=`.
    Other(char),
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub kind: TokenKind,
    /// Character offset of the token's first character.
    pub pos: usize,
}

impl Token {
    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::LParen => "`(`".to_string(),
            TokenKind::RParen => "`)`".to_string(),
            TokenKind::LBrace => "`{`".to_string(),
            TokenKind::RBrace => "`}`".to_string(),
            TokenKind::Dash(w) => format!("`-{}`", shorten(w)),
            TokenKind::Word(w) => format!("`{}`", shorten(w)),
            TokenKind::Str(s) => format!("the string '{}'", shorten(s)),
            TokenKind::Other(c) => format!("`{c}`"),
            TokenKind::Eof => "end of input".to_string(),
        }
    }

    /// True when this is the operator `-<word>` (case-insensitive).
    pub fn is_dash(&self, word: &str) -> bool {
        matches!(&self.kind, TokenKind::Dash(w) if w.eq_ignore_ascii_case(word))
    }
}

/// Keeps error messages readable when the offending text is long.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Characters allowed in a bare word (after its first character).
pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '@' | '_' | '-' | '*' | '?' | '$')
}

pub(super) struct Lexer {
    chars: Vec<char>,
    i: usize,
}

impl Lexer {
    pub fn new(input: &str) -> Self {
        Lexer { chars: input.chars().collect(), i: 0 }
    }

    fn peek_char(&self, ahead: usize) -> Option<char> {
        self.i.checked_add(ahead).and_then(|j| self.chars.get(j)).copied()
    }

    pub fn next_token(&mut self) -> Result<Token, FilterError> {
        while self.peek_char(0).is_some_and(char::is_whitespace) {
            self.i += 1;
        }
        let pos = self.i;
        let Some(c) = self.peek_char(0) else {
            return Ok(Token { kind: TokenKind::Eof, pos });
        };
        let simple = match c {
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '{' => Some(TokenKind::LBrace),
            '}' => Some(TokenKind::RBrace),
            _ => None,
        };
        if let Some(kind) = simple {
            self.i += 1;
            return Ok(Token { kind, pos });
        }
        let kind = if c == '\'' || c == '"' {
            TokenKind::Str(self.quoted(c)?)
        } else if c == '-' && self.peek_char(1).is_some_and(|n| n.is_ascii_alphabetic()) {
            self.i += 1;
            TokenKind::Dash(self.take_while(|n| n.is_ascii_alphabetic()))
        } else if is_word_char(c) && (c != '-' || self.peek_char(1).is_some_and(is_word_char)) {
            TokenKind::Word(self.take_while(is_word_char))
        } else {
            self.i += 1;
            TokenKind::Other(c)
        };
        Ok(Token { kind, pos })
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek_char(0).filter(|c| keep(*c)) {
            out.push(c);
            self.i += 1;
        }
        out
    }

    /// Reads a string opened by `quote` at the current position; a doubled quote stands for one.
    fn quoted(&mut self, quote: char) -> Result<String, FilterError> {
        let start = self.i;
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.peek_char(0) {
                None => {
                    return Err(FilterError::new(
                        start,
                        format!(
                            "unterminated string: the quote {quote} opened here is never closed \
                             (write a doubled {quote}{quote} for a literal {quote})"
                        ),
                    ));
                }
                Some(c) if c == quote => {
                    if self.peek_char(1) == Some(quote) {
                        out.push(quote);
                        self.i += 2;
                    } else {
                        self.i += 1;
                        return Ok(out);
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}
