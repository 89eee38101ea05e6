//! How deep an action's source nests, measured before it is parsed: Boa's parser, compiler and interpreter recurse
//! on nesting, and a file nested deeply enough overflows whatever stack parses it. Counting first, without
//! recursion, answers such a file with its line and column instead of crashing the host.

/// The line and column where `code` first nests deeper than `limit`, counted as the parser recurses:
///
/// - each open bracket (`(`, `[`, `{`, and `${` in a template) is a level;
/// - within a level, each token that makes the parser recurse without a closing bracket (`=>`, `?`, `:`,
///   assignment operators, `**`, `...`, `if`, `else`, `for`, `while`, `do`, `with`, `yield`) adds one until the
///   statement ends (`;`, `,`, a statement block's `}` not followed by `else`/`catch`/`finally`/`while`, or a line
///   break between an operand and a word, where automatic semicolon insertion ends it);
/// - a run of prefix operators (`!`, `~`, unary `+`/`-`, `++`/`--`, `typeof`, `void`, `delete`, `await`, `new`)
///   adds its length.
///
/// Strings, comments, templates and regular expressions are skipped as the lexer would; a `/` is read as a
/// regular expression where an operand is expected. The count errs high, never low: a file it passes parses within
/// the host's parse stack and the worker's.
pub fn nesting_over(code: &str, limit: usize) -> Option<(u32, u32)> {
    let mut scanner = Scanner { chars: code.chars().collect(), i: 0, line: 1, column: 1 };
    // Open levels: the bracket, the recursion counted inside it, and whether a `{` opened a statement block.
    let mut levels: Vec<Level> = vec![Level { bracket: '^', chain: 0, statement_block: true, header: false }];
    let mut prefix = 0usize;
    let mut after_operand = false;
    // The last significant token, for telling a statement block from an object and a header's `)`.
    let mut last = Last::Start;
    // A statement block just closed: the statement ends unless `else`, `catch`, `finally` or `while` follows.
    let mut block_closed = false;
    let mut newline_before;
    loop {
        newline_before = scanner.skip_trivia();
        let c = scanner.peek()?;
        let (line, column) = (scanner.line, scanner.column);
        let word = if is_word_start(c) { Some(scanner.word()) } else { None };
        let continues_statement = matches!(word.as_deref(), Some("else" | "catch" | "finally" | "while"));
        if block_closed
            && !continues_statement
            && let Some(level) = levels.last_mut()
        {
            level.chain = 0;
        }
        block_closed = false;
        // A line break between an operand and a word ends the statement (nothing lets a word follow an operand),
        // unless the operand was a statement header's `)` or the word is a binary operator.
        if newline_before
            && after_operand
            && last != Last::HeaderClose
            && word.as_deref().is_some_and(|w| !matches!(w, "in" | "instanceof" | "of"))
        {
            if let Some(level) = levels.last_mut() {
                level.chain = 0;
            }
            prefix = 0;
        }
        let mut grew = false;
        if let Some(word) = word {
            match word.as_str() {
                "typeof" | "void" | "delete" | "await" | "new" => {
                    prefix += 1;
                    grew = true;
                    after_operand = false;
                    last = Last::Operator;
                }
                "if" | "for" | "while" | "with" | "switch" | "catch" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::Header;
                }
                "else" | "do" | "try" | "finally" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::BlockKeyword;
                }
                "yield" => {
                    bump(&mut levels);
                    grew = true;
                    after_operand = false;
                    last = Last::Operator;
                }
                "in" | "instanceof" | "of" | "return" | "throw" | "case" | "default" | "extends" => {
                    after_operand = false;
                    last = if word == "case" || word == "default" { Last::Case } else { Last::Operator };
                }
                "function" => {
                    after_operand = false;
                    // A declaration at the start of a statement has a statement block as its body.
                    last = if matches!(last, Last::Start | Last::StatementEnd) { Last::Header } else { Last::Operator };
                }
                _ => {
                    after_operand = true;
                    prefix = 0;
                    if last != Last::Header {
                        last = Last::Operand;
                    }
                }
            }
        } else if c == '\'' || c == '"' {
            scanner.string(c);
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c == '`' {
            scanner.bump();
            if scanner.template() {
                levels.push(Level { bracket: '$', chain: 0, statement_block: false, header: false });
                grew = true;
            }
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c == '/' && !after_operand {
            scanner.regex();
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if c.is_ascii_digit() {
            scanner.word();
            after_operand = true;
            prefix = 0;
            last = Last::Operand;
        } else if matches!(c, '(' | '[' | '{') {
            scanner.bump();
            // A call or an index on an operand extends a member chain, which Boa parses in time quadratic in its
            // length: it counts like recursion.
            if after_operand && c != '{' {
                bump(&mut levels);
            }
            let statement_block =
                c == '{' && matches!(last, Last::Start | Last::StatementEnd | Last::HeaderClose | Last::BlockKeyword);
            levels.push(Level { bracket: c, chain: 0, statement_block, header: c == '(' && last == Last::Header });
            grew = true;
            after_operand = false;
            prefix = 0;
            last = if statement_block { Last::StatementEnd } else { Last::Open };
        } else if matches!(c, ')' | ']' | '}') {
            scanner.bump();
            let closed = if levels.len() > 1 { levels.pop() } else { None };
            match closed {
                Some(level) if level.bracket == '$' => {
                    // Back in the template's text: to its end, or to its next `${`.
                    if scanner.template() {
                        levels.push(Level { bracket: '$', chain: 0, statement_block: false, header: false });
                    }
                    after_operand = true;
                    last = Last::Operand;
                }
                Some(level) if level.statement_block => {
                    block_closed = true;
                    after_operand = false;
                    last = Last::StatementEnd;
                }
                Some(level) if level.header => {
                    after_operand = true;
                    last = Last::HeaderClose;
                }
                _ => {
                    after_operand = c != '}';
                    last = Last::Operand;
                }
            }
            prefix = 0;
        } else if c == ';' || c == ',' {
            scanner.bump();
            if let Some(level) = levels.last_mut() {
                level.chain = 0;
            }
            prefix = 0;
            after_operand = false;
            last = if c == ';' { Last::StatementEnd } else { Last::Operator };
        } else {
            let operator = scanner.punctuator();
            match operator.as_str() {
                "!" | "~" => {
                    prefix += 1;
                    grew = true;
                }
                "+" | "-" | "++" | "--" if !after_operand => {
                    prefix += 1;
                    grew = true;
                }
                "=>" | "?" | "**" | "..." | "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "**=" | "<<=" | ">>=" | ">>>="
                | "&=" | "|=" | "^=" | "&&=" | "||=" | "??=" => {
                    bump(&mut levels);
                    grew = true;
                }
                ":" if last != Last::Case => {
                    bump(&mut levels);
                    grew = true;
                }
                "." | "?." => {
                    bump(&mut levels);
                    grew = true;
                }
                _ => {}
            }
            // `a++` and `a--` end an operand; every other punctuator expects one next.
            let postfix = after_operand && matches!(operator.as_str(), "++" | "--");
            after_operand = postfix;
            if !postfix && !matches!(operator.as_str(), "!" | "~" | "+" | "-" | "++" | "--") {
                prefix = 0;
            }
            last = if operator == "=>" { Last::BlockKeyword } else { Last::Operator };
        }
        if grew {
            let depth = levels.len() - 1 + levels.iter().map(|l| l.chain).sum::<usize>() + prefix;
            if depth > limit {
                return Some((line, column));
            }
        }
    }
}

/// One open bracket of [`nesting_over`].
struct Level {
    bracket: char,
    chain: usize,
    statement_block: bool,
    /// The parentheses of an `if`/`for`/`while`/`with`/`switch`/`catch` or a function declaration's parameters.
    header: bool,
}

fn bump(levels: &mut [Level]) {
    if let Some(level) = levels.last_mut() {
        level.chain += 1;
    }
}

/// The last significant token, as far as [`nesting_over`] needs to know.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Start,
    StatementEnd,
    Operand,
    Operator,
    Open,
    /// A keyword whose parentheses come next (`if`, `for`...), or a function declaration's name.
    Header,
    /// The `)` closing such parentheses: a statement body follows.
    HeaderClose,
    /// `else`, `do`, `try`, `finally`, `=>`: a block may follow.
    BlockKeyword,
    /// `case` or `default`: their `:` is not a label.
    Case,
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$' || c == '\\' || c == '#'
}

/// The character-level part of [`nesting_over`].
struct Scanner {
    chars: Vec<char>,
    i: usize,
    line: u32,
    column: u32,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
            self.i += 1;
        }
    }

    /// Skips whitespace and comments; whether a line break was among them.
    fn skip_trivia(&mut self) -> bool {
        let mut newline = false;
        loop {
            match (self.peek(), self.chars.get(self.i + 1).copied()) {
                (Some(c), _) if c.is_whitespace() => {
                    newline |= matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    while self.peek().is_some()
                        && !(self.peek() == Some('*') && self.chars.get(self.i + 1) == Some(&'/'))
                    {
                        newline |= self.peek() == Some('\n');
                        self.bump();
                    }
                    self.bump();
                    self.bump();
                }
                _ => return newline,
            }
        }
    }

    /// An identifier, keyword or number.
    fn word(&mut self) -> String {
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || matches!(c, '_' | '$' | '\\' | '#' | '.') && !(c == '.' && word.is_empty()) {
                if c == '.' && !word.starts_with(|d: char| d.is_ascii_digit()) {
                    break;
                }
                word.push(c);
                self.bump();
            } else {
                break;
            }
        }
        if word.is_empty() {
            self.bump();
        }
        word
    }

    fn string(&mut self, quote: char) {
        self.bump();
        while let Some(c) = self.peek() {
            if c == quote || c == '\n' {
                break;
            }
            if c == '\\' {
                self.bump();
            }
            self.bump();
        }
        self.bump();
    }

    fn regex(&mut self) {
        self.bump();
        let mut class = false;
        while let Some(c) = self.peek() {
            if c == '\n' || (!class && c == '/') {
                break;
            }
            match c {
                '\\' => self.bump(),
                '[' => class = true,
                ']' => class = false,
                _ => {}
            }
            self.bump();
        }
        self.bump();
        while self.peek().is_some_and(char::is_alphanumeric) {
            self.bump();
        }
    }

    /// A template's text up to its end (`false`) or to a `${` (`true`), after the opening backquote or `}`.
    fn template(&mut self) -> bool {
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    self.bump();
                    self.bump();
                }
                '`' => {
                    self.bump();
                    return false;
                }
                '$' if self.chars.get(self.i + 1) == Some(&'{') => {
                    self.bump();
                    self.bump();
                    return true;
                }
                _ => self.bump(),
            }
        }
        false
    }

    /// The longest punctuator at the cursor (or one character).
    fn punctuator(&mut self) -> String {
        const PUNCTUATORS: [&str; 41] = [
            ">>>=", "...", "===", "!==", "**=", "<<=", ">>=", ">>>", "&&=", "||=", "??=", "=>", "==", "!=", "<=", ">=",
            "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "**", "<<", ">>", "=",
            "?", ":", "!", "~", "+", "-", ".",
        ];
        for p in PUNCTUATORS {
            if p.chars().enumerate().all(|(k, c)| self.chars.get(self.i + k) == Some(&c)) {
                for _ in 0..p.chars().count() {
                    self.bump();
                }
                // `?.` before a digit is `?` then a number (`a?.5:1`).
                return p.to_owned();
            }
        }
        let c = self.peek().map(String::from).unwrap_or_default();
        self.bump();
        c
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::actions::{MAX_ACTION_BYTES, MAX_NESTING, action_files, check_syntax};
    use crate::protocol::ActionSource;

    fn source(code: String) -> ActionSource {
        ActionSource { name: "deep.js".into(), path: "actions/deep.js".into(), code }
    }

    /// Shapes of deep nesting, each at `depth`.
    fn shapes(depth: usize) -> Vec<(&'static str, String)> {
        vec![
            // Left open, as a 100 KB file can be 100,000 levels deep only that way; the parser recurses all the same.
            ("open arrays", format!("exports.x = {}", "[".repeat(depth))),
            ("open parentheses", format!("exports.x = {}", "(".repeat(depth))),
            ("open blocks", "{".repeat(depth)),
            ("arrays", format!("exports.x = {}{};", "[".repeat(depth), "]".repeat(depth))),
            ("parentheses", format!("exports.x = {}1{};", "(".repeat(depth), ")".repeat(depth))),
            ("blocks", format!("{}{}", "{".repeat(depth), "}".repeat(depth))),
            ("objects", format!("exports.x = {}1{};", "{a:".repeat(depth), "}".repeat(depth))),
            ("calls", format!("exports.x = {}1{};", "f(".repeat(depth), ")".repeat(depth))),
            ("templates", format!("exports.x = {}1{};", "`${".repeat(depth), "}`".repeat(depth))),
            ("negations", format!("exports.x = {}1;", "!".repeat(depth))),
            ("unary minus", format!("exports.x = {}1;", "- ".repeat(depth))),
            ("typeof", format!("exports.x = {}1;", "typeof ".repeat(depth))),
            ("arrows", format!("exports.x = {}1;", "x => ".repeat(depth))),
            ("conditionals", format!("exports.x = {}1;", "a ? 1 : ".repeat(depth))),
            ("assignments", format!("let a; exports.x = {}1;", "a = ".repeat(depth))),
            ("exponents", format!("exports.x = {}1;", "2 ** ".repeat(depth))),
            ("sums", format!("exports.x = {}1;", "1 + ".repeat(depth))),
            ("functions", format!("{}{}", "function f() {".repeat(depth), "}".repeat(depth))),
            ("ifs", format!("{}1;", "if (a) ".repeat(depth))),
            ("ifs on lines", format!("{}1;", "if (a)\n".repeat(depth))),
            ("else ifs", format!("if (a) {{}}{}", " else if (a) {{}}".repeat(depth))),
            ("labels", format!("{}1;", "a:\n".repeat(depth))),
            ("arrows on lines", format!("exports.x = {}1;", "x =>\n".repeat(depth))),
            ("arrows past blocks", format!("exports.x = {}1;", "x => function () {} ? 1 : ".repeat(depth))),
            ("conditionals on lines", format!("exports.x = {}1;", "a ? b\n : ".repeat(depth))),
            ("spreads", format!("exports.x = [{}a];", "...".repeat(depth))),
            ("calls in a chain", format!("exports.x = f{};", "()".repeat(depth))),
            ("members in a chain", format!("exports.x = a{};", ".b".repeat(depth))),
            ("statements without semicolons", "let a\na = 1\n".repeat(depth)),
        ]
    }

    /// Shapes the parser reads in a loop, not by recursion: any length is fine.
    const LINEAR: [&str; 2] = ["sums", "statements without semicolons"];

    #[test]
    fn real_code_is_not_refused() {
        for dir in ["actions/post-login", "actions/examples"] {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir);
            for file in action_files(&root).unwrap_or_default() {
                let code = std::fs::read_to_string(&file).unwrap();
                assert_eq!(nesting_over(&code, 32), None, "{}", file.display());
            }
        }
        let standard_style =
            "const a = require('x')\n".repeat(400) + &"if (a) {\n  b = c\n} else {\n  d = e\n}\n".repeat(400);
        assert_eq!(nesting_over(&standard_style, MAX_NESTING), None);
        let switch = format!("switch (x) {{ {} }}", "case 1:\n  y = 2\n".repeat(500));
        assert_eq!(nesting_over(&switch, MAX_NESTING), None);
        let object = format!("exports.x = {{ {} }};", "a: 1,\n".repeat(1000));
        assert_eq!(nesting_over(&object, MAX_NESTING), None);
        let template = "const t = `a ${ b ? `c ${ d } e` : f } g`;\n".repeat(300);
        assert_eq!(nesting_over(&template, MAX_NESTING), None);
    }

    #[test]
    fn deep_nesting_is_refused_with_its_line_or_parsed_never_a_crash() {
        for depth in [10, 100, 300, 1_000, 10_000, 100_000] {
            for (shape, code) in shapes(depth) {
                if code.len() > MAX_ACTION_BYTES {
                    // Refused for its size before it is parsed (load_files); the shapes above it are still tried.
                    if LINEAR.contains(&shape) {
                        continue;
                    }
                }
                let started = std::time::Instant::now();
                let result = check_syntax(&source(code));
                if depth > MAX_NESTING && !LINEAR.contains(&shape) {
                    let error = result.expect_err(shape);
                    assert!(error.line.is_some(), "{shape} at {depth}: {error}");
                    assert!(error.message.contains("nested more than"), "{shape} at {depth}: {error}");
                }
                assert!(started.elapsed().as_secs() < 20, "{shape} at {depth} took {:?}", started.elapsed());
            }
        }
    }
}
