//! A validating JSON scanner for the hot path: it walks an envelope once, checks the grammar of
//! everything it passes over and hands back members and elements as byte ranges, without
//! decoding strings or numbers and without recursion.
//!
//! Hand-written because it is the one place where the time goes: serde_json's raw-value path
//! (which accepts exactly Node's grammar, see the module above) skips string bodies eight bytes
//! at a time, and at 100 calls in flight that scan of the 1 KB argument was the largest single
//! cost of a call. Here a string body is skipped with `memchr2` for `"` and `\` (SIMD) plus a
//! vectorizable check for control characters. The grammar is serde_json's raw acceptance, which
//! the differential tests check on generated and hostile inputs.

use std::fmt;

use smallvec::SmallVec;

/// Where and why a text is not JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was wrong.
    pub what: &'static str,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

impl std::error::Error for ScanError {}

type Result<T> = std::result::Result<T, ScanError>;

/// A byte range of the scanned text.
pub(crate) type Span = std::ops::Range<usize>;

/// A string token: its span (quotes included) and whether it holds an escape.
#[derive(Debug, Clone)]
pub(crate) struct StrToken {
    pub span: Span,
    pub escaped: bool,
}

/// Whether `b` holds a byte below 0x20: the minimum of each 64-byte block, which the compiler
/// turns into a few vector `min` instructions per block.
fn has_control(b: &[u8]) -> bool {
    let mut blocks = b.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(u8::MAX, |acc, &c| acc.min(c)) < 0x20 {
            return true;
        }
    }
    blocks.remainder().iter().any(|&c| c < 0x20)
}

/// The scanner over one text.
pub(crate) struct Scanner<'a> {
    b: &'a [u8],
    pos: usize,
}

fn err<T>(at: usize, what: &'static str) -> Result<T> {
    Err(ScanError { at, what })
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Self {
        Scanner { b: text.as_bytes(), pos: 0 }
    }

    /// The next byte after whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                return Some(c);
            }
        }
        None
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            err(self.pos, what)
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => err(self.pos, "trailing characters"),
        }
    }

    /// A string starting at the current byte (`"`).
    pub fn string(&mut self) -> Result<StrToken> {
        let start = self.pos;
        if self.b.get(start) != Some(&b'"') {
            return err(start, "expected a string");
        }
        let mut i = start + 1;
        let mut escaped = false;
        loop {
            let rest = &self.b[i..];
            let Some(off) = memchr::memchr2(b'"', b'\\', rest) else {
                return err(self.b.len(), "EOF while parsing a string");
            };
            if has_control(&rest[..off]) {
                let bad = rest[..off].iter().position(|&c| c < 0x20).unwrap_or(0);
                return err(i + bad, "control character in a string");
            }
            i += off;
            if self.b[i] == b'"' {
                self.pos = i + 1;
                return Ok(StrToken { span: start..self.pos, escaped });
            }
            escaped = true;
            match self.b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u') => {
                    let hex =
                        self.b.get(i + 2..i + 6).ok_or(ScanError { at: i, what: "EOF in an escape" })?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return err(i, "invalid \\u escape");
                    }
                    i += 6;
                }
                Some(_) => return err(i, "invalid escape"),
                None => return err(i, "EOF in an escape"),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.b.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<()> {
        let start = self.pos;
        if self.b.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.b.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.b.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return err(self.pos, "invalid number (leading zero)");
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return err(start, "invalid number"),
        }
        if self.b.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return err(self.pos, "invalid number (no digit after the point)");
            }
        }
        if matches!(self.b.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.b.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return err(self.pos, "invalid number (no digit in the exponent)");
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<()> {
        if self.b[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            err(self.pos, "expected a value")
        }
    }

    /// One value starting at the next non-whitespace byte; returns its span. Nesting is
    /// followed with a stack of its own (no recursion, no depth limit beyond the text).
    pub fn value(&mut self) -> Result<Span> {
        let Some(c) = self.peek() else { return err(self.pos, "EOF while parsing a value") };
        let start = self.pos;
        match c {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => self.container()?,
            b't' => self.literal(b"true")?,
            b'f' => self.literal(b"false")?,
            b'n' => self.literal(b"null")?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return err(start, "expected a value"),
        }
        Ok(start..self.pos)
    }

    /// An object or array and everything inside it, iteratively.
    fn container(&mut self) -> Result<()> {
        // true: inside an object; false: inside an array. Shallow nesting stays on the stack.
        let mut stack: SmallVec<[bool; 32]> = SmallVec::new();
        let open = |s: &mut Self, stack: &mut SmallVec<[bool; 32]>| -> Result<bool> {
            // Consumes `{` or `[`; returns true when the container is empty (and consumed).
            let obj = s.b[s.pos] == b'{';
            s.pos += 1;
            let close = if obj { b'}' } else { b']' };
            if s.peek() == Some(close) {
                s.pos += 1;
                return Ok(true);
            }
            stack.push(obj);
            if obj {
                s.member_key()?;
            }
            Ok(false)
        };
        if open(self, &mut stack)? {
            return Ok(());
        }
        loop {
            // A value is due.
            match self.peek() {
                Some(b'{' | b'[') => {
                    if !open(self, &mut stack)? {
                        continue;
                    }
                }
                Some(_) => {
                    self.value()?;
                }
                None => return err(self.pos, "EOF while parsing a value"),
            }
            // After a value: `,` or the closing bracket, possibly several.
            loop {
                let obj = *stack.last().expect("inside a container");
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if obj {
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b'}') if obj => {
                        self.pos += 1;
                        stack.pop();
                    }
                    Some(b']') if !obj => {
                        self.pos += 1;
                        stack.pop();
                    }
                    Some(_) => return err(self.pos, "expected `,` or a closing bracket"),
                    None => return err(self.pos, "EOF while parsing a container"),
                }
                if stack.is_empty() {
                    return Ok(());
                }
            }
        }
    }

    /// `"key" :` inside an object.
    fn member_key(&mut self) -> Result<StrToken> {
        if self.peek() != Some(b'"') {
            return err(self.pos, "expected a key");
        }
        let key = self.string()?;
        self.expect(b':', "expected `:`")?;
        Ok(key)
    }

    /// The members of the object starting at the next non-whitespace byte (`{`): calls
    /// `f(scanner, key)` for each, positioned at the member's value, which `f` must consume
    /// (with [`Scanner::value`], or [`Scanner::object`] to look inside).
    pub fn object(&mut self, mut f: impl FnMut(&mut Self, StrToken) -> Result<()>) -> Result<Span> {
        let start = self.pos;
        self.expect(b'{', "expected an object")?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(start..self.pos);
        }
        loop {
            let key = self.member_key()?;
            if self.peek().is_none() {
                return err(self.pos, "EOF while parsing a value");
            }
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(start..self.pos);
                }
                _ => return err(self.pos, "expected `,` or `}`"),
            }
        }
    }

    /// The elements of the array starting at the next non-whitespace byte (`[`): calls
    /// `f(scanner)` positioned at each element, which must consume exactly one value.
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<Span> {
        let start = self.pos;
        self.expect(b'[', "expected an array")?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(start..self.pos);
        }
        loop {
            if self.peek().is_none() {
                return err(self.pos, "EOF while parsing an array");
            }
            f(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(start..self.pos);
                }
                _ => return err(self.pos, "expected `,` or `]`"),
            }
        }
    }
}

/// Validates a whole text as one JSON value; returns the value's span (surrounding whitespace
/// excluded).
pub(crate) fn validate(text: &str) -> Result<Span> {
    let mut s = Scanner::new(text);
    let span = s.value()?;
    s.end()?;
    Ok(span)
}

#[cfg(test)]
mod tests;
