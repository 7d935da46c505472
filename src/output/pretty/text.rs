//! Turning untrusted text into something safe and short for a terminal line.

use unicode_width::UnicodeWidthChar;

/// Plain text of a message body: tags removed (block tags and `<br>` become spaces), entities
/// decoded, whitespace collapsed. `<p>caf&eacute; <b>x</b></p><p>y</p>` → `café x y`.
#[cfg(test)]
pub(super) fn html_to_text(html: &str) -> String {
    let (mut stripped, mut out) = (String::new(), String::new());
    html_to_text_into(html, &mut stripped, &mut out);
    out
}

/// [`html_to_text`] into `out`, with `stripped` as scratch space: both are cleared first and
/// reused from line to line, so a body costs no allocation once they have grown.
pub(super) fn html_to_text_into(html: &str, stripped: &mut String, out: &mut String) {
    stripped.clear();
    out.clear();
    if html.is_ascii() && memchr::memchr(b'&', html.as_bytes()).is_none() {
        // Nearly every body: no entity to decode, so tags are stripped and whitespace
        // collapsed in one pass, straight into `out`.
        strip_and_collapse_ascii(html, out);
        return;
    }
    walk_tags(html, |piece| match piece {
        Piece::Text(text) => stripped.push_str(text),
        Piece::Break => stripped.push(' '),
    });
    if memchr::memchr(b'&', stripped.as_bytes()).is_some() {
        html_escape::decode_html_entities_to_string(stripped.as_str(), out);
        std::mem::swap(stripped, out);
        out.clear();
    }
    collapse_whitespace(stripped, out);
}

/// ASCII whitespace as `char::is_whitespace` sees it (vertical tab included).
fn blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The index of the first byte at or after `from` that is `b' '` or below (every blank is);
/// `bytes.len()` if there is none. Sixteen bytes per step (see [`sse2`]).
fn next_low(bytes: &[u8], mut from: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while from + 16 <= bytes.len() {
        let low = sse2::at_or_below_space(&bytes[from..from + 16]);
        if low != 0 {
            return from + low.trailing_zeros() as usize;
        }
        from += 16;
    }
    bytes[from..]
        .iter()
        .position(|&b| b <= b' ')
        .map_or(bytes.len(), |at| from + at)
}

/// The index of the first `"` or `\\` at or after `from` in `bytes` (a JSON text): the end of
/// a string or an escape in it. Sixteen bytes per step (see [`sse2`]).
pub(super) fn next_quote_or_backslash(bytes: &[u8], mut from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    while from + 16 <= bytes.len() {
        let found = sse2::quote_or_backslash(&bytes[from..from + 16]);
        if found != 0 {
            return Some(from + found.trailing_zeros() as usize);
        }
        from += 16;
    }
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|at| from + at)
}

/// Byte classes of 16 bytes at once with SSE2 (every x86_64 has it). The portable loops
/// these replace were not vectorized by the compiler: about 1.5 instructions per byte
/// (callgrind), against a third of one here, on text that is a few hundred bytes per line.
#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };

    // SAFETY (every block below): the intrinsics need SSE2, which every x86_64 CPU has (it
    // is in the target's baseline); the one load reads the 16 bytes of `block`, whose length
    // is asserted first, unaligned loads being allowed anywhere.

    /// A bit per byte of the 16-byte `block` that is `b' '` or below.
    pub(super) fn at_or_below_space(block: &[u8]) -> u32 {
        assert_eq!(block.len(), 16);
        // v > 0x20 (unsigned) exactly when max(v, 0x21) == v.
        let above = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x21)), v))
        };
        (above as u32) ^ 0xffff
    }

    /// A bit per byte of the 16-byte `block` that is `"` or `\\` (the end of a JSON string or an
    /// escape in it).
    pub(super) fn quote_or_backslash(block: &[u8]) -> u32 {
        assert_eq!(block.len(), 16);
        let found = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(quote, backslash))
        };
        found as u32
    }

    /// Whether every byte of the 16-byte `block` is printable ASCII (0x20..=0x7E).
    pub(super) fn printable(block: &[u8]) -> bool {
        assert_eq!(block.len(), 16);
        let same = unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast::<__m128i>());
            let clamped = _mm_min_epu8(_mm_max_epu8(v, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x7e));
            _mm_movemask_epi8(_mm_cmpeq_epi8(clamped, v))
        };
        same == 0xffff
    }
}

/// Appends words to a line of text, every run of whitespace between them made one space, none
/// at either end: the ASCII `split_whitespace` + `join(" ")` of everything pushed.
struct Words<'o> {
    out: &'o mut String,
    /// Whitespace was seen since the last word.
    space: bool,
}

impl Words<'_> {
    fn push(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if blank(bytes[i]) {
                self.space = true;
                i += 1;
                continue;
            }
            // A word: up to the next blank (a control character below b' ' is part of it).
            let mut end = next_low(bytes, i);
            while end < bytes.len() && !blank(bytes[end]) {
                end = next_low(bytes, end + 1);
            }
            if self.space && !self.out.is_empty() {
                self.out.push(' ');
            }
            self.space = false;
            self.out.push_str(&text[i..end]);
            i = end;
        }
    }
}

/// [`html_to_text_into`] for ASCII without `&`: the same tags stripped, the same whitespace
/// collapsed, in one pass into the empty `out`.
fn strip_and_collapse_ascii(html: &str, out: &mut String) {
    let mut words = Words { out, space: false };
    walk_tags(html, |piece| match piece {
        Piece::Text(text) => words.push(text),
        Piece::Break => words.space = true,
    });
}

/// What [`walk_tags`] hands out: text between tags, or a tag that separates words.
enum Piece<'a> {
    Text(&'a str),
    Break,
}

/// The text of `html` with its tags taken out, in order: only `<` followed by a letter, `/` or
/// `!` opens a tag ("a < b" stays text), a tag that separates words (`<br>`, `<p>`…) is a
/// [`Piece::Break`], and an unterminated tag ends the text (rather than print half a tag).
fn walk_tags<'a>(html: &'a str, mut each: impl FnMut(Piece<'a>)) {
    let mut rest = html;
    while let Some(lt) = memchr::memchr(b'<', rest.as_bytes()) {
        each(Piece::Text(&rest[..lt]));
        let tag = &rest[lt + 1..];
        if !tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            each(Piece::Text("<"));
            rest = tag;
            continue;
        }
        let Some(gt) = memchr::memchr(b'>', tag.as_bytes()) else {
            return;
        };
        if separates_words(&tag[..gt]) {
            each(Piece::Break);
        }
        rest = &tag[gt + 1..];
    }
    each(Piece::Text(rest));
}

/// Writes `text` into the empty `out` with every run of whitespace made one space, none at
/// either end.
fn collapse_whitespace(text: &str, out: &mut String) {
    if !text.is_ascii() {
        for word in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
        return;
    }
    // ASCII: the same rule (`char::is_whitespace`, vertical tab included). Text between
    // changes is copied in one piece: a lone space between words is already right.
    let bytes = text.as_bytes();
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = bytes.iter().position(|&b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !blank(b))
        .map_or(start, |last| last + 1);
    let (mut kept, mut i) = (start, start);
    while i < end {
        let b = bytes[i];
        if b > b' ' {
            i += 1;
            // Whole blocks without a blank candidate (every blank is ≤ b' ') are skipped at once.
            while i + 16 <= end && bytes[i..i + 16].iter().fold(true, |ok, &c| ok & (c > b' ')) {
                i += 16;
            }
            continue;
        }
        if !blank(b) {
            i += 1;
            continue;
        }
        let mut run_end = i + 1;
        while blank(bytes[run_end]) {
            run_end += 1;
        }
        if b != b' ' || run_end > i + 1 {
            out.push_str(&text[kept..i]);
            out.push(' ');
            kept = run_end;
        }
        i = run_end;
    }
    out.push_str(&text[kept..end]);
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

/// Whether every byte is printable ASCII (0x20..=0x7E), sixteen bytes at a time (a byte loop
/// took ~6 instructions per byte, a `fold` over blocks ~1.5, [`sse2`] a third of one).
fn printable_ascii(bytes: &[u8]) -> bool {
    let printable = |b: u8| b.wrapping_sub(0x20) < 0x5f;
    let mut blocks = bytes.chunks_exact(16);
    #[cfg(target_arch = "x86_64")]
    let whole = blocks.all(sse2::printable);
    #[cfg(not(target_arch = "x86_64"))]
    let whole = blocks.all(|block| block.iter().all(|&b| printable(b)));
    whole && blocks.remainder().iter().all(|&b| printable(b))
}

/// What [`fit_into`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fit {
    /// Columns the written text takes.
    pub columns: usize,
    /// Whether something was cut (the text then ends with `…`).
    pub cut: bool,
}

/// Appends the concatenation of `parts`, made displayable and, when needed, cut to at most
/// `budget` columns, ending with `…` if anything was cut.
///
/// Printable ASCII (nearly every line) takes a fast path: one byte, one column, copied as is.
pub(super) fn fit_into(out: &mut Vec<u8>, parts: &[&str], budget: usize) -> Fit {
    if parts.iter().all(|p| printable_ascii(p.as_bytes())) {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if total <= budget {
            for p in parts {
                out.extend_from_slice(p.as_bytes());
            }
            return Fit {
                columns: total,
                cut: false,
            };
        }
        if budget == 0 {
            return Fit {
                columns: 0,
                cut: true,
            };
        }
        let mut keep = budget - 1;
        for p in parts {
            let take = keep.min(p.len());
            out.extend_from_slice(&p.as_bytes()[..take]);
            keep -= take;
        }
        out.extend_from_slice("…".as_bytes());
        return Fit {
            columns: budget,
            cut: true,
        };
    }
    let chars = || parts.iter().flat_map(|p| p.chars()).map(displayable);
    let total: usize = chars().map(columns).sum();
    let mut utf8 = [0u8; 4];
    if total <= budget {
        for c in chars() {
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        return Fit {
            columns: total,
            cut: false,
        };
    }
    // Cut: keep what fits in budget - 1 columns, then the ellipsis.
    let mut used = 0;
    for c in chars() {
        let w = columns(c);
        if used + w + 1 > budget {
            break;
        }
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        used += w;
    }
    if budget > 0 {
        out.extend_from_slice("…".as_bytes());
        used += 1;
    }
    Fit {
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
    fn printable_check_agrees_with_a_byte_loop() {
        for b in 0..=255u8 {
            for at in 0..19 {
                let mut bytes = [b'a'; 19];
                bytes[at] = b;
                for len in [at + 1, 19] {
                    let want = bytes[..len].iter().all(|&c| (0x20..=0x7e).contains(&c));
                    assert_eq!(printable_ascii(&bytes[..len]), want, "{b:#x} at {at}");
                }
            }
        }
    }

    #[test]
    fn quote_search_agrees_with_a_byte_loop() {
        for b in [
            b'"',
            b'\\',
            b'a',
            b'!',
            b'[',
            0xdc,
            0x22 + 0x80,
            0x5c + 0x80,
        ] {
            for at in 0..40 {
                let mut bytes = [b'x'; 40];
                bytes[at] = b;
                for from in [0, 3, 16, 17, 39, 40, 41] {
                    let want = bytes
                        .get(from..)
                        .and_then(|rest| rest.iter().position(|&c| c == b'"' || c == b'\\'))
                        .map(|i| from + i);
                    assert_eq!(
                        next_quote_or_backslash(&bytes, from),
                        want,
                        "{b:#x} at {at}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_pass_strip_is_the_two_pass_one() {
        let two_pass = |html: &str| {
            let mut stripped = String::new();
            let mut rest = html;
            while let Some(lt) = rest.find('<') {
                stripped.push_str(&rest[..lt]);
                let tag = &rest[lt + 1..];
                if !tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
                    stripped.push('<');
                    rest = tag;
                    continue;
                }
                let Some(gt) = tag.find('>') else {
                    rest = "";
                    break;
                };
                if separates_words(&tag[..gt]) {
                    stripped.push(' ');
                }
                rest = &tag[gt + 1..];
            }
            stripped.push_str(rest);
            stripped.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let pieces = [
            "<p>",
            "</p>",
            "<b>",
            "</b>",
            "<br/>",
            "<div class=\"x\">",
            " ",
            "  ",
            "\t",
            "\n",
            "\x0b",
            "\x0c",
            "\r",
            "\x01",
            "\x1f",
            "word",
            "longerwordwithoutblanks",
            "<",
            "a < b",
            "<!-- c -->",
            "<span>",
            "x",
            ">",
            "<p",
            "<a href=\"y",
        ];
        // Every sequence of up to three pieces, plus long ones from a simple generator.
        let mut cases: Vec<String> = Vec::new();
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    cases.push(format!("{a}{b}{c}"));
                }
            }
        }
        let mut seed = 7u64;
        for _ in 0..2000 {
            let mut html = String::new();
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                html.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            cases.push(html);
        }
        for html in cases {
            let mut out = String::from("stale");
            strip_and_collapse_ascii(&html, {
                out.clear();
                &mut out
            });
            assert_eq!(out, two_pass(&html), "{html:?}");
        }
    }

    #[test]
    fn ascii_collapse_is_split_whitespace() {
        for text in [
            " a  b\t\x0bc\n",
            "",
            "   ",
            "x",
            "a\x0c\rb ",
            "one two  three\tfour \nfive",
            "\x01 a \x1b b",
            "é  è\u{a0}x\u{3000}y",
        ] {
            let mut out = String::from("");
            collapse_whitespace(text, &mut out);
            assert_eq!(
                out,
                text.split_whitespace().collect::<Vec<_>>().join(" "),
                "{text:?}"
            );
        }
    }

    /// `fit_into` as a string, for assertions.
    fn fit(text: &str, budget: usize) -> (String, Fit) {
        let mut out = Vec::new();
        let fit = fit_into(&mut out, &[text], budget);
        (String::from_utf8(out).unwrap(), fit)
    }

    #[test]
    fn control_and_bidi_characters_are_neutralised() {
        let (text, fitted) = fit("a\x1b[31mred\u{202E}x\ty", 100);
        assert_eq!(text, "a\u{FFFD}[31mred\u{FFFD}x y");
        assert_eq!(fitted.columns, 13);
        assert!(!fitted.cut);
    }

    #[test]
    fn fit_cuts_on_characters_and_counts_columns() {
        assert_eq!(
            fit("hello", 5),
            (
                "hello".into(),
                Fit {
                    columns: 5,
                    cut: false
                }
            )
        );
        assert_eq!(
            fit("hello world", 6),
            (
                "hello…".into(),
                Fit {
                    columns: 6,
                    cut: true
                }
            )
        );
        // é is one column, 😀 two: never split a character, never overflow.
        assert_eq!(fit("café😀😀", 6).0, "café…");
        assert_eq!(fit("😀😀😀", 4).0, "😀…");
        assert_eq!(fit("😀😀😀", 4).1.columns, 3);
        assert_eq!(fit("abc", 1).0, "…");
        assert_eq!(fit("abc", 0).0, "");
        for budget in 0..12 {
            let (text, fitted) = fit("日本語のテキスト😀abc", budget);
            assert!(fitted.columns <= budget, "{fitted:?} > {budget}");
            assert_eq!(fitted.columns, text.chars().map(columns).sum::<usize>());
            assert!(fitted.cut);
        }
    }

    #[test]
    fn parts_fit_as_one_text() {
        let mut out = Vec::new();
        let fitted = fit_into(&mut out, &["#", "general"], 5);
        assert_eq!((out.as_slice(), fitted.cut), ("#gen…".as_bytes(), true));
        let mut out = Vec::new();
        let fitted = fit_into(&mut out, &["partner", " ", "7"], 9);
        assert_eq!((out.as_slice(), fitted.columns), (&b"partner 7"[..], 9));
        // The ASCII fast path and the general path cut at the same place.
        for budget in 0..8 {
            let ascii = fit("abcdefg", budget);
            let mut out = Vec::new();
            let general = fit_into(&mut out, &["abcdef", "\u{e9}"], budget);
            assert_eq!(ascii.1.columns.min(budget), general.columns.min(budget));
        }
    }
}
