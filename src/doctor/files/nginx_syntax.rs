//! nginx's syntax: a tokenizer and parser (directives, blocks, quoted strings, `#` comments,
//! `${var}`), each directive with its file and line, and `include`s replaced by what they name
//! when the reader finds it. Lenient, since users paste fragments: what is wrong with the text
//! becomes a [`Note`], never a panic. Knows nothing of Odoo (that is [`super::nginx`]).

use std::path::{Path, PathBuf};

use super::Reader;

/// One directive, with its block when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// The file it was read from (an include keeps its own name).
    pub file: String,
    pub line: usize,
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).map_or("", String::as_str)
    }

    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// A problem with the text itself (unbalanced braces, an unterminated quote, an include not
/// read), reported as a warning at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub file: String,
    pub line: usize,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

/// Split nginx syntax into words and `;`/`{`/`}`, each with its line.
fn tokenize(text: &str, file: &str, notes: &mut Vec<Note>) -> Vec<(Tok, usize)> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut word_line = 1;
    let mut line = 1;
    let mut chars = text.chars().peekable();
    let flush = |word: &mut String, toks: &mut Vec<(Tok, usize)>, at: usize| {
        if !word.is_empty() {
            toks.push((Tok::Word(std::mem::take(word)), at));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut word, &mut toks, word_line);
                line += 1;
            }
            c if c.is_whitespace() => flush(&mut word, &mut toks, word_line),
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            ';' | '{' | '}' => {
                flush(&mut word, &mut toks, word_line);
                let t = match c {
                    ';' => Tok::Semi,
                    '{' => Tok::Open,
                    _ => Tok::Close,
                };
                toks.push((t, line));
            }
            '"' | '\'' if word.is_empty() => {
                let start = line;
                let mut closed = false;
                let mut s = String::new();
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => match chars.next() {
                            Some(e) if e == c || e == '\\' => s.push(e),
                            Some(e) => {
                                if e == '\n' {
                                    line += 1;
                                }
                                s.push('\\');
                                s.push(e);
                            }
                            None => {}
                        },
                        d if d == c => {
                            closed = true;
                            break;
                        }
                        d => {
                            if d == '\n' {
                                line += 1;
                            }
                            s.push(d);
                        }
                    }
                }
                if !closed {
                    notes.push(Note {
                        file: file.to_string(),
                        line: start,
                        text: "a quoted string is never closed".into(),
                    });
                }
                toks.push((Tok::Word(s), start));
            }
            '$' if chars.peek() == Some(&'{') => {
                // `${var}`: the brace belongs to the word.
                if word.is_empty() {
                    word_line = line;
                }
                word.push('$');
                for d in chars.by_ref() {
                    word.push(d);
                    if d == '}' {
                        break;
                    }
                }
            }
            c => {
                if word.is_empty() {
                    word_line = line;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut toks, word_line);
    toks
}

/// Parse nginx syntax into directives. Lenient: a pasted fragment with a missing `}` or `;`
/// still yields its directives, and a note says what was wrong.
pub fn parse(text: &str, file: &str, notes: &mut Vec<Note>) -> Vec<Directive> {
    let toks = tokenize(text, file, notes);
    // Each frame: the directives so far, and the block's opening directive.
    let mut stack: Vec<(Vec<Directive>, Option<Directive>)> = vec![(Vec::new(), None)];
    let mut words: Vec<(String, usize)> = Vec::new();
    let note = |notes: &mut Vec<Note>, line: usize, text: &str| {
        notes.push(Note {
            file: file.to_string(),
            line,
            text: text.to_string(),
        })
    };
    let directive = |words: &mut Vec<(String, usize)>| -> Option<Directive> {
        let mut it = std::mem::take(words).into_iter();
        let (name, line) = it.next()?;
        Some(Directive {
            name,
            args: it.map(|(w, _)| w).collect(),
            file: file.to_string(),
            line,
            block: None,
        })
    };
    for (tok, line) in toks {
        match tok {
            Tok::Word(w) => words.push((w, line)),
            Tok::Semi => {
                if let Some(d) = directive(&mut words) {
                    stack.last_mut().expect("a frame").0.push(d);
                }
            }
            Tok::Open => {
                let d = directive(&mut words).unwrap_or_else(|| Directive {
                    name: String::new(),
                    args: Vec::new(),
                    file: file.to_string(),
                    line,
                    block: None,
                });
                stack.push((Vec::new(), Some(d)));
            }
            Tok::Close => {
                if let Some(d) = directive(&mut words) {
                    note(
                        notes,
                        d.line,
                        &format!("`{}` has no `;` before `}}`", d.name),
                    );
                    stack.last_mut().expect("a frame").0.push(d);
                }
                if stack.len() == 1 {
                    note(notes, line, "a `}` closes no block");
                    continue;
                }
                let (children, opener) = stack.pop().expect("a frame");
                let mut d = opener.expect("an inner frame has its opener");
                d.block = Some(children);
                stack.last_mut().expect("a frame").0.push(d);
            }
        }
    }
    if let Some(d) = directive(&mut words) {
        note(notes, d.line, &format!("`{}` has no `;`", d.name));
        stack.last_mut().expect("a frame").0.push(d);
    }
    while stack.len() > 1 {
        let (children, opener) = stack.pop().expect("a frame");
        let mut d = opener.expect("an inner frame has its opener");
        note(
            notes,
            d.line,
            &format!("the `{}` block opened here is never closed", d.name),
        );
        d.block = Some(children);
        stack.last_mut().expect("a frame").0.push(d);
    }
    stack.pop().map(|f| f.0).unwrap_or_default()
}

/// Debian's /etc/nginx/proxy_params, used when a config includes it and it is not readable here.
const DEBIAN_PROXY_PARAMS: &str = "proxy_set_header Host $http_host;\nproxy_set_header X-Real-IP $remote_addr;\nproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\nproxy_set_header X-Forwarded-Proto $scheme;\n";

const MAX_INCLUDE_DEPTH: usize = 8;

/// Replace every `include` with what it names, when the reader finds it; note the others.
pub fn expand(
    dirs: Vec<Directive>,
    base: Option<&Path>,
    read: Reader<'_>,
    depth: usize,
    notes: &mut Vec<Note>,
) -> Vec<Directive> {
    let mut out = Vec::new();
    for mut d in dirs {
        if let Some(children) = d.block.take() {
            d.block = Some(expand(children, base, read, depth, notes));
            out.push(d);
            continue;
        }
        if d.name != "include" || d.args.len() != 1 {
            out.push(d);
            continue;
        }
        let target = PathBuf::from(d.arg(0));
        let candidates: Vec<PathBuf> = if target.is_absolute() {
            vec![target.clone()]
        } else {
            // nginx resolves against its prefix (the main config's directory); a site file
            // usually sits one level below it.
            base.map(|b| vec![b.join(&target), b.parent().unwrap_or(b).join(&target)])
                .unwrap_or_default()
        };
        let found = if depth < MAX_INCLUDE_DEPTH {
            candidates
                .iter()
                .map(|c| read(c))
                .find(|f| !f.is_empty())
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        if found.is_empty() {
            if d.arg(0).ends_with("proxy_params") {
                let mut ignored = Vec::new();
                let mut known = parse(DEBIAN_PROXY_PARAMS, &d.file, &mut ignored);
                for k in &mut known {
                    k.line = d.line;
                    k.args.push("(Debian's proxy_params)".into());
                }
                out.extend(known);
            }
            notes.push(Note {
                file: d.file.clone(),
                line: d.line,
                text: format!(
                    "`include {}` was not read (not found or not readable here): what it sets is not checked",
                    d.arg(0)
                ),
            });
            out.push(d);
            continue;
        }
        for (path, text) in found {
            let name = path.display().to_string();
            let parsed = parse(&text, &name, notes);
            out.extend(expand(parsed, path.parent(), read, depth + 1, notes));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_keeps_quotes_comments_variables_and_lines() {
        let mut notes = Vec::new();
        let d = parse(
            "# top\nmap $http_upgrade $c {\n  default upgrade; '' close; # why\n}\nlocation ~* \"^/web{2}\" { return 200 \"a;b\"; }\nset $x ${y}z;",
            "f",
            &mut notes,
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(d[0].name, "map");
        assert_eq!(d[0].line, 2);
        assert_eq!(d[0].children()[1].name, "");
        assert_eq!(d[0].children()[1].args, vec!["close"]);
        assert_eq!(d[1].args, vec!["~*", "^/web{2}"]);
        assert_eq!(d[1].children()[0].args, vec!["200", "a;b"]);
        assert_eq!(d[2].args, vec!["$x", "${y}z"]);
        assert_eq!(d[2].line, 6);
    }

    #[test]
    fn broken_syntax_is_noted_not_fatal() {
        let mut notes = Vec::new();
        let d = parse(
            "server {\n location / {\n proxy_pass http://a\n }\n",
            "f",
            &mut notes,
        );
        assert_eq!(d.len(), 1);
        assert!(
            notes
                .iter()
                .any(|n| n.line == 3 && n.text.contains("no `;`")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.line == 1 && n.text.contains("never closed")),
            "{notes:?}"
        );
    }
}
