//! Turning untrusted text into something safe and short for a terminal line.

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Plain text of a message body: tags removed (block tags and `<br>` become spaces), entities
/// decoded, whitespace collapsed. `<p>caf&eacute; <b>x</b></p><p>y</p>` → `café x y`.
pub(super) fn html_to_text(html: &str) -> String {
    let mut stripped = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        stripped.push_str(&rest[..lt]);
        let tag = &rest[lt + 1..];
        // Only `<` followed by a letter, `/` or `!` opens a tag; "a < b" stays text.
        if !tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            stripped.push('<');
            rest = tag;
            continue;
        }
        let Some(gt) = tag.find('>') else {
            // An unterminated tag: drop the rest rather than print half a tag.
            rest = "";
            break;
        };
        if separates_words(&tag[..gt]) {
            stripped.push(' ');
        }
        rest = &tag[gt + 1..];
    }
    stripped.push_str(rest);
    let decoded = html_escape::decode_html_entities(&stripped);
    collapse_whitespace(&decoded)
}

/// Whether a tag (the text between `<` and `>`) ends a word: block elements and line breaks.
fn separates_words(tag: &str) -> bool {
    let name = tag.trim_start_matches('/');
    let name = &name[..name
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(name.len())];
    const BLOCKS: &[&str] = &[
        "p",
        "br",
        "div",
        "li",
        "ul",
        "ol",
        "tr",
        "td",
        "th",
        "table",
        "blockquote",
        "pre",
        "hr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
    ];
    BLOCKS.iter().any(|block| block.eq_ignore_ascii_case(name))
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// What a character shows as on a terminal line: layout whitespace becomes a space; control
/// characters (an ESC could restyle or move the cursor) and bidi overrides (they could disguise
/// what follows) become U+FFFD.
pub(super) fn displayable(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => ' ',
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => '\u{FFFD}',
        c if c.is_control() => '\u{FFFD}',
        c => c,
    }
}

/// Columns a character takes (wide CJK and emoji: 2; combining marks: 0).
fn columns(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// `text` made displayable and cut to a column budget.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fitted<'a> {
    pub text: Cow<'a, str>,
    /// Columns `text` takes.
    pub columns: usize,
    /// Whether something was cut (the text then ends with `…`).
    pub cut: bool,
}

/// Makes `text` displayable and, when needed, cuts it to at most `budget` columns, ending with
/// `…` if anything was cut.
pub(super) fn fit(text: &str, budget: usize) -> Fitted<'_> {
    let mut used = 0;
    let mut clean = true;
    for c in text.chars() {
        let shown = displayable(c);
        clean &= shown == c;
        used += columns(shown);
    }
    if used <= budget {
        let text = if clean {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(text.chars().map(displayable).collect())
        };
        return Fitted {
            text,
            columns: used,
            cut: false,
        };
    }
    // Cut: keep what fits in budget - 1 columns, then the ellipsis.
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars().map(displayable) {
        let w = columns(c);
        if used + w + 1 > budget {
            break;
        }
        out.push(c);
        used += w;
    }
    if budget > 0 {
        out.push('…');
        used += 1;
    }
    Fitted {
        text: Cow::Owned(out),
        columns: used,
        cut: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_bodies_become_plain_text() {
        let cases = [
            ("<p>hello</p>", "hello"),
            ("<p>caf\u{e9} 😀 <b>x</b> &amp; y</p>", "café 😀 x & y"),
            ("<p>one</p><p>two</p>", "one two"),
            ("line<br>break<br/>again", "line break again"),
            ("<b>bo</b><i>ld</i>", "bold"),
            ("a &lt;b&gt; c", "a <b> c"),
            ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
            ("  lots \n\t of   space&nbsp;here ", "lots of space here"),
            ("<p>cut <a href=\"x", "cut"),
            ("<!-- comment -->text", "text"),
            ("", ""),
            ("<DIV>Up</DIV>case", "Up case"),
        ];
        for (html, want) in cases {
            assert_eq!(html_to_text(html), want, "{html}");
        }
    }

    #[test]
    fn control_and_bidi_characters_are_neutralised() {
        let fitted = fit("a\x1b[31mred\u{202E}x\ty", 100);
        assert_eq!(fitted.text, "a\u{FFFD}[31mred\u{FFFD}x y");
        assert_eq!(fitted.columns, 13);
        assert!(!fitted.cut);
    }

    #[test]
    fn fit_cuts_on_characters_and_counts_columns() {
        let whole = fit("hello", 5);
        assert!(matches!(whole.text, Cow::Borrowed("hello")));
        assert_eq!((whole.columns, whole.cut), (5, false));
        let cut = fit("hello world", 6);
        assert_eq!(
            (cut.text.as_ref(), cut.columns, cut.cut),
            ("hello…", 6, true)
        );
        // é is one column, 😀 two: never split a character, never overflow.
        assert_eq!(fit("café😀😀", 6).text, "café…");
        assert_eq!(fit("😀😀😀", 4).text, "😀…");
        assert_eq!(fit("😀😀😀", 4).columns, 3);
        assert_eq!(fit("abc", 1).text, "…");
        assert_eq!(fit("abc", 0).text, "");
        for budget in 0..12 {
            let fitted = fit("日本語のテキスト😀abc", budget);
            assert!(fitted.columns <= budget, "{fitted:?} > {budget}");
            assert_eq!(
                fitted.columns,
                fitted.text.chars().map(columns).sum::<usize>()
            );
            assert!(fitted.cut);
        }
    }
}
