//! The PromQL lexer: query text to tokens, with Prometheus' lexer's rules and error
//! messages.
//! Owns: token kinds, keywords, number/duration/string scanning, and the lexer's own
//! errors (`unclosed left parenthesis`, `bad number or duration syntax: "5mm"`, ...).
//! Does not: decide what a token means in context (the parser does: `sum` may be a
//! metric name, `by` a label).
//!
//! Upstream's lexer (`promql/parser/lex.go`) is a state machine whose state depends only
//! on what it has read, never on the parser, so the whole query is lexed up front. It
//! stops at its first error, which becomes the last token; the parser reports that error
//! only when it reaches it, as upstream's parser does when it asks for that token.

use super::super::format::go_quote;
use crate::promql::ast::AggregateOp;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Eof,
    /// The lexer's error; its message is in `Lexed::error`.
    Error,
    Identifier,
    /// An identifier with a colon (`job:rate5m`).
    MetricIdentifier,
    Number,
    Duration,
    String,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    /// `=`, only valid inside braces.
    Eql,
    Colon,
    // Operators.
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eqlc,
    Neq,
    Lte,
    Lss,
    Gte,
    Gtr,
    TrimUpper,
    TrimLower,
    EqlRegex,
    NeqRegex,
    At,
    Land,
    Lor,
    Lunless,
    Atan2,
    Aggregator(AggregateOp),
    // Keywords.
    Bool,
    By,
    GroupLeft,
    GroupRight,
    Fill,
    FillLeft,
    FillRight,
    Ignoring,
    Offset,
    Smoothed,
    Anchored,
    On,
    Without,
    // Preprocessors: `@ start()`, and the experimental duration functions.
    Start,
    End,
    Step,
    Range,
    MaxOf,
    MinOf,
}

impl Kind {
    /// Keywords as upstream groups them for messages (`unexpected <by>`).
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Kind::Bool
                | Kind::By
                | Kind::GroupLeft
                | Kind::GroupRight
                | Kind::Fill
                | Kind::FillLeft
                | Kind::FillRight
                | Kind::Ignoring
                | Kind::Offset
                | Kind::Smoothed
                | Kind::Anchored
                | Kind::On
                | Kind::Without
        )
    }

    fn is_operator(self) -> bool {
        matches!(
            self,
            Kind::Add
                | Kind::Sub
                | Kind::Mul
                | Kind::Div
                | Kind::Mod
                | Kind::Pow
                | Kind::Eqlc
                | Kind::Neq
                | Kind::Lte
                | Kind::Lss
                | Kind::Gte
                | Kind::Gtr
                | Kind::TrimUpper
                | Kind::TrimLower
                | Kind::EqlRegex
                | Kind::NeqRegex
                | Kind::At
                | Kind::Land
                | Kind::Lor
                | Kind::Lunless
                | Kind::Atan2
        )
    }
}

/// One token: its kind and byte range in the query.
#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text(self, query: &str) -> &str {
        query.get(self.start..self.end).unwrap_or("")
    }

    /// How upstream's parser names the token in `unexpected ...` messages
    /// (`Item.desc`): `end of input`, `<op:*>`, `<aggr:sum>`, `<by>`, `"("`,
    /// `identifier "foo"`, `number "1"`, `string "\"abc\""`.
    pub fn describe(self, query: &str) -> String {
        let text = self.text(query);
        match self.kind {
            Kind::Eof => "end of input".to_string(),
            Kind::Error => text.to_string(),
            Kind::Identifier => format!("identifier {}", go_quote(text)),
            Kind::MetricIdentifier => format!("metric identifier {}", go_quote(text)),
            Kind::Number => format!("number {}", quote_truncated(text)),
            Kind::Duration => format!("duration {}", quote_truncated(text)),
            Kind::String => format!("string {}", quote_truncated(text)),
            kind if kind.is_keyword() => format!("<{text}>"),
            kind if kind.is_operator() => format!("<op:{text}>"),
            Kind::Aggregator(_) => format!("<aggr:{text}>"),
            _ => quote_truncated(text),
        }
    }
}

/// Go's `%q`, or `%.10q...` for texts longer than 10 bytes (the first 10 characters).
fn quote_truncated(text: &str) -> String {
    if text.len() > 10 {
        let head: String = text.chars().take(10).collect();
        format!("{}...", go_quote(&head))
    } else {
        go_quote(text)
    }
}

/// The lexer's output: the tokens (comments left out), ending with `Eof` or `Error`.
pub struct Lexed {
    pub tokens: Vec<Token>,
    /// The error's message when the last token is `Error`.
    pub error: Option<String>,
}

/// Lexes the whole query.
pub fn lex(query: &str) -> Lexed {
    let mut lexer = Lexer {
        input: query,
        pos: 0,
        start: 0,
        width: 0,
        state: State::Statements,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        got_duration: false,
        tokens: Vec::new(),
    };
    // Every step consumes at least one character, so this ends.
    loop {
        let before = lexer.pos;
        match lexer.step() {
            Ok(Step::Continue) => {
                debug_assert!(lexer.pos > before, "BUG: lexer stuck at byte {before}");
            }
            Ok(Step::Done) => {
                return Lexed {
                    tokens: lexer.tokens,
                    error: None,
                };
            }
            Err(message) => {
                let start = lexer.start;
                lexer.tokens.push(Token {
                    kind: Kind::Error,
                    start,
                    end: query.len(),
                });
                return Lexed {
                    tokens: lexer.tokens,
                    error: Some(message),
                };
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Statements,
    /// Just after `[`, until the first number or duration.
    DurationExpr,
}

enum Step {
    Continue,
    Done,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    /// Start of the token being scanned; errors are reported from here.
    start: usize,
    /// Byte width of the last character `next` returned, for `backup`.
    width: usize,
    state: State,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    /// Never reset, as upstream (it is reset only in series descriptions).
    got_duration: bool,
    tokens: Vec<Token>,
}

type LexResult = Result<Step, String>;

impl Lexer<'_> {
    fn next(&mut self) -> Option<char> {
        match self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(character) => {
                self.width = character.len_utf8();
                self.pos += self.width;
                Some(character)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
        self.width = 0;
    }

    fn peek(&mut self) -> Option<char> {
        let character = self.next();
        self.backup();
        character
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(character) if valid.contains(character) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn emit(&mut self, kind: Kind) {
        self.tokens.push(Token {
            kind,
            start: self.start,
            end: self.pos,
        });
        self.start = self.pos;
    }

    /// Upstream emits some tokens and then reports an error in their place: the error
    /// starts after the token, which the parser never sees.
    fn replace_last(&mut self, message: String) -> String {
        self.tokens.pop();
        message
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn step(&mut self) -> LexResult {
        if self.brace_open {
            return self.inside_braces();
        }
        match self.state {
            State::Statements => self.statements(),
            State::DurationExpr => self.duration_expr(),
        }
    }

    fn skip_comment(&mut self) {
        while let Some(character) = self.next() {
            if character == '\r' || character == '\n' {
                self.backup();
                break;
            }
        }
        self.ignore();
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.ignore();
    }

    /// Upstream's `lexStatements`.
    fn statements(&mut self) -> LexResult {
        if self.input[self.pos..].starts_with('#') {
            self.skip_comment();
            return Ok(Step::Continue);
        }
        let Some(character) = self.next() else {
            if self.paren_depth != 0 {
                return Err("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return Err("unclosed left bracket".into());
            }
            self.emit(Kind::Eof);
            return Ok(Step::Done);
        };
        match character {
            ',' => self.emit(Kind::Comma),
            c if is_space(c) => self.skip_spaces(),
            '*' => self.emit(Kind::Mul),
            '/' => self.emit(Kind::Div),
            '%' => self.emit(Kind::Mod),
            '+' => self.emit(Kind::Add),
            '-' => self.emit(Kind::Sub),
            '^' => self.emit(Kind::Pow),
            '=' | '!' => return self.equals_or_bang(character),
            '<' | '>' => self.comparison(character),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|n| n.is_ascii_digit())) =>
            {
                self.backup();
                return self.number_or_duration();
            }
            '"' | '\'' => return self.string(character),
            '`' => return self.raw_string(),
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup();
                    self.keyword_or_identifier();
                    return Ok(Step::Continue);
                }
                return self.inside_brackets(c);
            }
            '(' | ')' | '{' | '[' | ']' => return self.bracket(character),
            '@' => self.emit(Kind::At),
            other => return Err(format!("unexpected character: {}", quote_rune(Some(other)))),
        }
        Ok(Step::Continue)
    }

    /// `==`, `=` and `!=` outside braces.
    fn equals_or_bang(&mut self, first: char) -> LexResult {
        let after = self.peek();
        match (first, after) {
            ('=', Some('=')) => {
                self.next();
                self.emit(Kind::Eqlc);
            }
            ('=', Some('~')) => {
                return Err(format!(
                    "unexpected character after '=': {}",
                    quote_rune(after)
                ));
            }
            ('=', _) => self.emit(Kind::Eql),
            (_, Some('=')) => {
                self.next();
                self.emit(Kind::Neq);
            }
            _ => {
                self.next();
                return Err(format!(
                    "unexpected character after '!': {}",
                    quote_rune(after)
                ));
            }
        }
        Ok(Step::Continue)
    }

    /// Parentheses, `{` and brackets outside braces, which also track nesting.
    fn bracket(&mut self, character: char) -> LexResult {
        match character {
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Err(self.replace_last(format!(
                        "unexpected right parenthesis {}",
                        quote_rune(Some(')'))
                    )));
                }
            }
            '{' => {
                self.emit(Kind::LeftBrace);
                self.brace_open = true;
            }
            '[' => {
                if self.bracket_open {
                    return Err(format!("unexpected left bracket {}", quote_rune(Some('['))));
                }
                self.got_colon = false;
                self.emit(Kind::LeftBracket);
                self.skip_spaces();
                self.bracket_open = true;
                self.state = State::DurationExpr;
            }
            _ => {
                if !self.bracket_open {
                    return Err(format!(
                        "unexpected right bracket {}",
                        quote_rune(Some(']'))
                    ));
                }
                self.emit(Kind::RightBracket);
                self.bracket_open = false;
            }
        }
        Ok(Step::Continue)
    }

    /// `<`, `<=`, `</` and their `>` twins.
    fn comparison(&mut self, first: char) {
        let (plain, or_equal, trim) = if first == '<' {
            (Kind::Lss, Kind::Lte, Kind::TrimUpper)
        } else {
            (Kind::Gtr, Kind::Gte, Kind::TrimLower)
        };
        match self.peek() {
            Some('=') => {
                self.next();
                self.emit(or_equal);
            }
            Some('/') => {
                self.next();
                self.emit(trim);
            }
            _ => self.emit(plain),
        }
    }

    /// A letter or colon inside `[...]` after its first number: a subquery's colon or a
    /// duration keyword.
    fn inside_brackets(&mut self, character: char) -> LexResult {
        if character == ':' {
            if self.got_colon {
                return Err(format!("unexpected colon {}", quote_rune(Some(':'))));
            }
            self.emit(Kind::Colon);
            self.got_colon = true;
            return Ok(Step::Continue);
        }
        if is_duration_keyword_start(character) && self.duration_keyword() {
            return Ok(Step::Continue);
        }
        Err(format!(
            "unexpected character: {}, expected {}",
            quote_rune(Some(character)),
            quote_rune(Some(':'))
        ))
    }

    /// Upstream's `lexDurationExpr`: the first tokens after `[`.
    fn duration_expr(&mut self) -> LexResult {
        let Some(character) = self.next() else {
            return Err("unexpected end of input in duration expression".into());
        };
        match character {
            ']' => {
                self.emit(Kind::RightBracket);
                self.bracket_open = false;
                self.got_colon = false;
                self.state = State::Statements;
            }
            ':' => {
                self.emit(Kind::Colon);
                if !self.got_duration {
                    return Err(self.replace_last(
                        "unexpected colon before duration in duration expression".into(),
                    ));
                }
                if self.got_colon {
                    return Err(self
                        .replace_last("unexpected repeated colon in duration expression".into()));
                }
                self.got_colon = true;
            }
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return Err(self.replace_last(format!(
                        "unexpected right parenthesis {}",
                        quote_rune(Some(')'))
                    )));
                }
            }
            c if is_space(c) => self.skip_spaces(),
            '+' => self.emit(Kind::Add),
            '-' => self.emit(Kind::Sub),
            '*' => self.emit(Kind::Mul),
            '/' => self.emit(Kind::Div),
            '%' => self.emit(Kind::Mod),
            '^' => self.emit(Kind::Pow),
            ',' => self.emit(Kind::Comma),
            c if is_duration_keyword_start(c) => {
                if !self.duration_keyword() {
                    return Err(format!(
                        "unexpected character in duration expression: {}",
                        quote_rune(Some(c))
                    ));
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|n| n.is_ascii_digit())) =>
            {
                self.backup();
                self.got_duration = true;
                self.state = State::Statements;
                return self.number_or_duration();
            }
            other => {
                return Err(format!(
                    "unexpected character in duration expression: {}",
                    quote_rune(Some(other))
                ));
            }
        }
        Ok(Step::Continue)
    }

    /// `step`, `range`, `max_of`, `min_of` (any case) inside brackets.
    fn duration_keyword(&mut self) -> bool {
        while self.next().is_some_and(is_alpha) {}
        self.backup();
        let word = self.input[self.start..self.pos].to_ascii_lowercase();
        let kind = match word.as_str() {
            "step" => Kind::Step,
            "range" => Kind::Range,
            "max_of" => Kind::MaxOf,
            "min_of" => Kind::MinOf,
            _ => return false,
        };
        self.emit(kind);
        true
    }

    /// Upstream's `lexInsideBraces`: keywords are plain identifiers here.
    fn inside_braces(&mut self) -> LexResult {
        if self.input[self.pos..].starts_with('#') {
            self.skip_comment();
            return Ok(Step::Continue);
        }
        let Some(character) = self.next() else {
            return Err("unexpected end of input inside braces".into());
        };
        match character {
            c if is_space(c) => self.skip_spaces(),
            c if is_alpha(c) => {
                while self.next().is_some_and(is_alphanumeric) {}
                self.backup();
                self.emit(Kind::Identifier);
            }
            ',' => self.emit(Kind::Comma),
            '"' | '\'' => return self.string(character),
            '`' => return self.raw_string(),
            '=' => {
                if self.next() == Some('~') {
                    self.emit(Kind::EqlRegex);
                } else {
                    self.backup();
                    self.emit(Kind::Eql);
                }
            }
            '!' => match self.next() {
                Some('~') => self.emit(Kind::NeqRegex),
                Some('=') => self.emit(Kind::Neq),
                other => {
                    return Err(format!(
                        "unexpected character after '!' inside braces: {}",
                        quote_rune(other)
                    ));
                }
            },
            '{' => return Err(format!("unexpected left brace {}", quote_rune(Some('{')))),
            '}' => {
                self.emit(Kind::RightBrace);
                self.brace_open = false;
            }
            other => {
                return Err(format!(
                    "unexpected character inside braces: {}",
                    quote_rune(Some(other))
                ));
            }
        }
        Ok(Step::Continue)
    }

    /// A quoted string; escapes are checked here and decoded by the parser.
    fn string(&mut self, quote: char) -> LexResult {
        loop {
            match self.next() {
                Some('\\') => self.escape(quote)?,
                None | Some('\n') => return Err("unterminated quoted string".into()),
                Some(character) if character == quote => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        Ok(Step::Continue)
    }

    fn raw_string(&mut self) -> LexResult {
        loop {
            match self.next() {
                None => return Err("unterminated raw string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::String);
        Ok(Step::Continue)
    }

    /// Upstream's `lexEscape`, after the backslash.
    fn escape(&mut self, quote: char) -> Result<(), String> {
        let (mut digits, base, max) = match self.next() {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(character) if character == quote => return Ok(()),
            Some('0'..='7') => {
                self.backup();
                (3, 8, 255)
            }
            Some('x') => (2, 16, 255),
            Some('u') => (4, 16, 0x10FFFF),
            Some('U') => (8, 16, 0x10FFFF),
            None => return Err("escape sequence not terminated".into()),
            Some(other) => return Err(format!("unknown escape sequence {}", go_unicode(other))),
        };
        let mut value: u32 = 0;
        while digits > 0 {
            let character = self.next();
            let digit = character.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if digit >= base {
                return Err(match character {
                    None => "escape sequence not terminated".into(),
                    Some(c) => format!("illegal character {} in escape sequence", go_unicode(c)),
                });
            }
            value = value * base + digit;
            digits -= 1;
        }
        if value > max || (0xD800..0xE000).contains(&value) {
            return Err("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    /// Upstream's `lexNumberOrDuration`.
    fn number_or_duration(&mut self) -> LexResult {
        if self.scan_number() {
            self.emit(Kind::Number);
            return Ok(Step::Continue);
        }
        if self.accept_remaining_duration() {
            self.backup();
            self.emit(Kind::Duration);
            return Ok(Step::Continue);
        }
        Err(format!(
            "bad number or duration syntax: {}",
            go_quote(&self.input[self.start..self.pos])
        ))
    }

    /// The rest of a duration after its first number: units `y w d h m s ms`, then more
    /// number-unit pairs, then a non-alphanumeric character.
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        !self.next().is_some_and(is_alphanumeric)
    }

    /// Upstream's `scanNumber`: decimal, hexadecimal, float and exponent forms with `_`
    /// between digits. Consumes what it scanned, also when it fails.
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
        }
        let hexadecimal = digits.len() > 10;
        self.accept(".");
        self.accept(digits);
        let mut dot_seen = false;
        let mut exponent_seen = false;
        while let Some(character) = self
            .peek()
            .filter(|c| digits.contains(*c) || "._eE".contains(*c))
        {
            if character == '.' && dot_seen {
                self.accept(".");
                return false;
            }
            if "eE".contains(character) && exponent_seen {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot_seen = true;
                if self.accept("_.") || hexadecimal {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exponent_seen = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            while self.accept(digits) {}
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alphanumeric)
    }

    /// An identifier, metric identifier (with a colon), keyword, `Inf` or `NaN`.
    fn keyword_or_identifier(&mut self) {
        while self.next().is_some_and(|c| is_alphanumeric(c) || c == ':') {}
        self.backup();
        let word = &self.input[self.start..self.pos];
        let kind = match keyword(&word.to_ascii_lowercase()) {
            Some(Kind::Fill | Kind::FillLeft | Kind::FillRight)
                if !self.followed_by_left_paren() =>
            {
                Kind::Identifier
            }
            Some(kind) => kind,
            None if word.contains(':') => Kind::MetricIdentifier,
            None => Kind::Identifier,
        };
        self.emit(kind);
    }

    fn followed_by_left_paren(&self) -> bool {
        self.input[self.pos..]
            .chars()
            .find(|c| !is_space(*c))
            .is_some_and(|c| c == '(')
    }
}

/// Keywords, aggregators and operator words, lower-cased; `inf` and `nan` are numbers.
fn keyword(word: &str) -> Option<Kind> {
    if let Some(op) = AggregateOp::from_name(word) {
        return Some(Kind::Aggregator(op));
    }
    Some(match word {
        "and" => Kind::Land,
        "or" => Kind::Lor,
        "unless" => Kind::Lunless,
        "atan2" => Kind::Atan2,
        "offset" => Kind::Offset,
        "smoothed" => Kind::Smoothed,
        "anchored" => Kind::Anchored,
        "by" => Kind::By,
        "without" => Kind::Without,
        "on" => Kind::On,
        "ignoring" => Kind::Ignoring,
        "group_left" => Kind::GroupLeft,
        "group_right" => Kind::GroupRight,
        "fill" => Kind::Fill,
        "fill_left" => Kind::FillLeft,
        "fill_right" => Kind::FillRight,
        "bool" => Kind::Bool,
        "start" => Kind::Start,
        "end" => Kind::End,
        "step" => Kind::Step,
        "range" => Kind::Range,
        "max_of" => Kind::MaxOf,
        "min_of" => Kind::MinOf,
        "inf" | "nan" => Kind::Number,
        _ => return None,
    })
}

fn is_space(character: char) -> bool {
    matches!(character, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(character: char) -> bool {
    character == '_' || character.is_ascii_alphabetic()
}

fn is_alphanumeric(character: char) -> bool {
    is_alpha(character) || character.is_ascii_digit()
}

fn is_duration_keyword_start(character: char) -> bool {
    matches!(character.to_ascii_lowercase(), 's' | 'r' | 'm')
}

/// Go's `%q` of a rune; the end of input prints as upstream's `eof` rune does.
fn quote_rune(character: Option<char>) -> String {
    super::super::format::go_quote_rune(character.unwrap_or('\u{FFFD}'))
}

/// Go's `%#U`: `U+0063 'c'`, without the character when it is not printable.
fn go_unicode(character: char) -> String {
    if super::super::format::is_go_printable(character) {
        format!("U+{:04X} '{character}'", character as u32)
    } else {
        format!("U+{:04X}", character as u32)
    }
}
