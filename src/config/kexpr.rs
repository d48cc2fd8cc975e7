//! A pytest-style `-k` expression: `and`, `or`, `not`, parentheses; every other word matches
//! when it is a case-insensitive substring of the test id (as pytest matches keywords).

use super::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KExpr {
    Word(String),
    Not(Box<KExpr>),
    And(Box<KExpr>, Box<KExpr>),
    Or(Box<KExpr>, Box<KExpr>),
}

impl KExpr {
    pub fn parse(text: &str) -> Result<KExpr, ConfigError> {
        let tokens = tokenize(text);
        if tokens.is_empty() {
            return Err(ConfigError::KEmpty);
        }
        // Bounded, so that a hostile expression is an error and never a stack overflow
        // (security review B8).
        if tokens.len() > MAX_TOKENS {
            return Err(ConfigError::KTooLong {
                words: tokens.len(),
            });
        }
        let mut p = Parser {
            tokens,
            pos: 0,
            depth: 0,
        };
        let e = p.or()?;
        if p.pos != p.tokens.len() {
            return Err(ConfigError::KUnexpected {
                expr: text.to_string(),
                token: p.tokens[p.pos].clone(),
                word: p.pos + 1,
            });
        }
        Ok(e)
    }

    pub fn matches(&self, id: &str) -> bool {
        match self {
            KExpr::Word(w) => id.to_lowercase().contains(&w.to_lowercase()),
            KExpr::Not(e) => !e.matches(id),
            KExpr::And(a, b) => a.matches(id) && b.matches(id),
            KExpr::Or(a, b) => a.matches(id) || b.matches(id),
        }
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in s.chars() {
        if c == '(' || c == ')' || c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Most words and parentheses in one `-k` expression.
pub const MAX_TOKENS: usize = 4096;
/// Deepest nesting of `(` and `not` in one `-k` expression.
pub const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<String>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }
    fn or(&mut self) -> Result<KExpr, ConfigError> {
        let mut e = self.and()?;
        while self.peek() == Some("or") {
            self.pos += 1;
            e = KExpr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }
    fn and(&mut self) -> Result<KExpr, ConfigError> {
        let mut e = self.not()?;
        while self.peek() == Some("and") {
            self.pos += 1;
            e = KExpr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }
    fn enter(&mut self) -> Result<(), ConfigError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ConfigError::KTooDeep);
        }
        Ok(())
    }
    fn not(&mut self) -> Result<KExpr, ConfigError> {
        if self.peek() == Some("not") {
            self.pos += 1;
            self.enter()?;
            let e = self.not()?;
            self.depth -= 1;
            return Ok(KExpr::Not(Box::new(e)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<KExpr, ConfigError> {
        match self.peek() {
            Some("(") => {
                self.pos += 1;
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(")") {
                    return Err(ConfigError::KUnclosed);
                }
                self.pos += 1;
                Ok(e)
            }
            Some(t) if t == ")" || t == "and" || t == "or" => Err(ConfigError::KWordExpected {
                token: t.to_string(),
            }),
            Some(t) => {
                let w = KExpr::Word(t.to_string());
                self.pos += 1;
                Ok(w)
            }
            None => Err(ConfigError::KEndsEarly),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytest_like_semantics() {
        let id = "perf/test_perf_sanity.py::test_e2e[aggr_upload-deepseek_r1_fp4_v2_grace_blackwell-r1_fp4_v2_tp4_mtp3_1k1k]";
        for (expr, want) in [
            ("deepseek", true),
            ("DeepSeek and grace", true),
            ("aggr_upload and not disagg", true),
            ("gpt_oss or tp4", true),
            ("not (tp4 or dep4)", false),
            ("gpt_oss", false),
            ("not not deepseek", true),
        ] {
            assert_eq!(KExpr::parse(expr).unwrap().matches(id), want, "{expr}");
        }
    }

    #[test]
    fn bad_expressions_explain() {
        for e in ["", "a and", "(a", "a b", "or a", ")"] {
            assert!(KExpr::parse(e).is_err(), "{e:?}");
        }
    }

    #[test]
    fn b8_deep_k_expression_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}x{}", "(".repeat(20_000), ")".repeat(20_000));
        let e = KExpr::parse(&deep).unwrap_err().to_string();
        assert!(e.contains("more than"), "{e}");
        let nots = format!("{}x", "not ".repeat(1000));
        assert!(
            KExpr::parse(&nots)
                .unwrap_err()
                .to_string()
                .contains("deep")
        );
        let ok = format!("{}x{}", "(".repeat(60), ")".repeat(60));
        assert!(KExpr::parse(&ok).is_ok());
    }
}
