//! A small JSON reader that keeps where every value came from (line and
//! column), and accepts lwsws' one extension: `#` outside a string turns the
//! rest of the line into a comment.
//!
//! Values keep their source position so configuration errors can name the
//! file, line and key. Numbers keep their text; objects keep their key order
//! (duplicates included, so the caller can report them).

use std::fmt;

/// A position in the source: 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A JSON value and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Where the value starts.
    pub pos: Pos,
    /// The value.
    pub kind: Kind,
}

/// The kinds of JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written.
    Num(String),
    /// A string, unescaped.
    Str(String),
    /// An array.
    Arr(Vec<Value>),
    /// An object: keys (with their positions) and values, in source order.
    Obj(Vec<(String, Pos, Value)>),
}

impl Kind {
    /// What a value is, for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool(_) => "a boolean",
            Kind::Num(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Arr(_) => "an array",
            Kind::Obj(_) => "an object",
        }
    }
}

/// A syntax error and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the reader stopped.
    pub pos: Pos,
    /// What was wrong.
    pub msg: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.msg)
    }
}

/// Deepest nesting accepted (keeps the recursive reader's stack bounded).
const MAX_DEPTH: usize = 64;

/// Parses one JSON document (with `#` comments).
pub fn parse(src: &str) -> Result<Value, SyntaxError> {
    let mut r = Reader {
        s: src.as_bytes(),
        src,
        i: 0,
        line: 1,
        line_start: 0,
    };
    let v = r.value(0)?;
    r.skip_ws();
    if r.i < r.s.len() {
        return Err(r.err("unexpected text after the end of the document"));
    }
    Ok(v)
}

struct Reader<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    line: u32,
    line_start: usize,
}

impl Reader<'_> {
    fn pos(&self) -> Pos {
        let col = self
            .src
            .get(self.line_start..self.i)
            .map_or(self.i - self.line_start, |s| s.chars().count());
        Pos {
            line: self.line,
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    fn err(&self, msg: &str) -> SyntaxError {
        SyntaxError {
            pos: self.pos(),
            msg: msg.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn newline(&mut self) {
        self.line = self.line.saturating_add(1);
        self.line_start = self.i + 1;
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\n' => self.newline(),
                b' ' | b'\t' | b'\r' => {}
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                    continue;
                }
                _ => return,
            }
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, SyntaxError> {
        self.skip_ws();
        let pos = self.pos();
        let kind = match self.peek() {
            None => return Err(self.err("unexpected end of file, a value was expected")),
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(self.err("nested too deeply"));
                }
                self.i += 1;
                self.object(depth + 1)?
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(self.err("nested too deeply"));
                }
                self.i += 1;
                self.array(depth + 1)?
            }
            Some(b'"') => Kind::Str(self.string()?),
            Some(b't') => self.word("true", Kind::Bool(true))?,
            Some(b'f') => self.word("false", Kind::Bool(false))?,
            Some(b'n') => self.word("null", Kind::Null)?,
            Some(b'-' | b'0'..=b'9') => Kind::Num(self.number()?),
            Some(_) => {
                return Err(self.err(
                    "a value (object, array, string, number, true, false or null) was expected",
                ))
            }
        };
        Ok(Value { pos, kind })
    }

    fn word(&mut self, w: &str, k: Kind) -> Result<Kind, SyntaxError> {
        if self.s[self.i..].starts_with(w.as_bytes()) {
            self.i += w.len();
            Ok(k)
        } else {
            Err(self.err("unknown word (strings need double quotes)"))
        }
    }

    fn object(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        let mut members = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Kind::Obj(members));
        }
        loop {
            self.skip_ws();
            let kpos = self.pos();
            if self.peek() != Some(b'"') {
                return Err(self.err("a key in double quotes was expected"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("':' was expected after the key"));
            }
            self.i += 1;
            let v = self.value(depth)?;
            members.push((key, kpos, v));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Kind::Obj(members));
                }
                None => return Err(self.err("unexpected end of file inside an object")),
                Some(_) => return Err(self.err("',' or '}' was expected")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Kind, SyntaxError> {
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Kind::Arr(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Kind::Arr(items));
                }
                None => return Err(self.err("unexpected end of file inside an array")),
                Some(_) => return Err(self.err("',' or ']' was expected")),
            }
        }
    }

    fn number(&mut self) -> Result<String, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |r: &mut Self| {
            let s = r.i;
            while r.peek().is_some_and(|c| c.is_ascii_digit()) {
                r.i += 1;
            }
            r.i - s
        };
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.err("a digit was expected")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("a digit was expected after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("a digit was expected in the exponent"));
            }
        }
        Ok(self.src[start..self.i].to_string())
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("four hex digits were expected after \\u"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(&self.src[start..self.i]);
            match self.peek() {
                None => return Err(self.err("unexpected end of file inside a string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.err("unexpected end of file inside a string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if !self.s[self.i..].starts_with(b"\\u") {
                                    return Err(self.err("a low surrogate \\u escape was expected"));
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("invalid low surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(ch) => out.push(ch),
                                None => return Err(self.err("invalid \\u escape")),
                            }
                        }
                        _ => return Err(self.err("unknown escape in a string")),
                    }
                }
                Some(_) => {
                    return Err(self.err(
                        "control character inside a string (a line break needs \\n, or the closing quote is missing)",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: &Value) -> &[(String, Pos, Value)] {
        match &v.kind {
            Kind::Obj(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn values_positions_and_comments() {
        let src = "# global settings\n{\n  \"a\": \"x # not a comment\", # a comment\n  \"b\": [1, -2.5e3, true, null],\n\t\"ü\": {\"c\": \"\\u00e9\\ud83d\\ude00\\n\"}\n}\n# end";
        let v = parse(src).unwrap();
        let m = obj(&v);
        assert_eq!(v.pos, Pos { line: 2, col: 1 });
        assert_eq!(m[0].0, "a");
        assert_eq!(m[0].1, Pos { line: 3, col: 3 });
        assert_eq!(m[0].2.kind, Kind::Str("x # not a comment".into()));
        assert_eq!(m[0].2.pos, Pos { line: 3, col: 8 });
        match &m[1].2.kind {
            Kind::Arr(a) => {
                assert_eq!(a[1].kind, Kind::Num("-2.5e3".into()));
                assert_eq!(a[2].kind, Kind::Bool(true));
                assert_eq!(a[3].kind, Kind::Null);
                assert_eq!(a[3].pos, Pos { line: 4, col: 26 });
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(m[2].0, "ü");
        assert_eq!(m[2].1, Pos { line: 5, col: 2 });
        assert_eq!(obj(&m[2].2)[0].2.kind, Kind::Str("é😀\n".into()));
        // Column counts characters, not bytes.
        assert_eq!(m[2].2.pos, Pos { line: 5, col: 7 });
    }

    #[test]
    fn errors_say_where() {
        let cases: &[(&str, u32, u32, &str)] = &[
            ("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, "',' or '}'"),
            ("{\"a\": tru}", 1, 7, "unknown word"),
            ("{\"a\": \"x\n\"}", 1, 9, "control character"),
            ("{\"a\": 01}", 1, 8, "',' or '}'"),
            ("[1,]", 1, 4, "a value"),
            ("{a: 1}", 1, 2, "a key in double quotes"),
            ("{\"a\": \"\\x\"}", 1, 10, "unknown escape"),
            ("{\"a\": \"\\ud800x\"}", 1, 14, "low surrogate"),
            ("{} x", 1, 4, "after the end"),
            ("", 1, 1, "end of file"),
            ("[1.]", 1, 4, "after '.'"),
            ("{\"a\": 1", 1, 8, "end of file inside an object"),
        ];
        for (src, line, col, msg) in cases {
            let e = parse(src).unwrap_err();
            assert_eq!((e.pos.line, e.pos.col), (*line, *col), "{src:?}: {e}");
            assert!(e.msg.contains(msg), "{src:?}: {e}");
        }
        let deep = "[".repeat(200);
        assert!(parse(&deep).unwrap_err().msg.contains("nested too deeply"));
    }
}
