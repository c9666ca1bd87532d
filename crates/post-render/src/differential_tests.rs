//! The fast path against the full path: for every body the fast path takes, its HTML
//! must be byte for byte the full path's (pulldown-cmark's HTML cleaned by ammonia).
//!
//! Bodies: every payload of the XSS corpus (alone, raw and inside larger bodies), the
//! benchmark's seeded bodies (`bench/lib.sh`), hand-picked edge cases, and thousands of
//! bodies from a small random grammar of Markdown constructs with a fixed seed, so
//! every run checks the same bodies.

use crate::fast;
use crate::html::render_and_clean;

/// How many bodies the fast path took, and the first few it got wrong.
#[derive(Default)]
struct Outcome {
    checked: usize,
    fast: usize,
    wrong: Vec<(String, String, String)>,
}

impl Outcome {
    fn check(&mut self, body: &str) {
        self.checked += 1;
        let Some(html) = fast::render(body) else {
            return;
        };
        self.fast += 1;
        let full = render_and_clean(body);
        if html != full && self.wrong.len() < 8 {
            self.wrong.push((body.to_owned(), html, full));
        }
    }

    /// Panics with the differences, if any; returns how many bodies took the fast path.
    fn assert_same(&self, what: &str) -> usize {
        let report: Vec<String> = self
            .wrong
            .iter()
            .map(|(body, fast, full)| format!("body {body:?}\n fast {fast:?}\n full {full:?}"))
            .collect();
        assert!(
            report.is_empty(),
            "{what}: the fast path differs\n{}",
            report.join("\n")
        );
        eprintln!(
            "{what}: {} bodies, {} through the fast path, all identical",
            self.checked, self.fast
        );
        self.fast
    }
}

const CORPUS: &str = include_str!("../tests/xss-corpus.txt");

/// The corpus's payload lines, as written and with `\n`, `\t`, `\\` resolved (as
/// `tests/integration/xss.rs` reads them).
fn corpus() -> Vec<(String, String)> {
    CORPUS
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("//"))
        .map(|line| (line.to_owned(), unescape(line)))
        .collect()
}

fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let resolved = match (c, chars.peek()) {
            ('\\', Some('n')) => '\n',
            ('\\', Some('t')) => '\t',
            ('\\', Some('\\')) => '\\',
            _ => {
                out.push(c);
                continue;
            }
        };
        chars.next();
        out.push(resolved);
    }
    out
}

#[test]
fn the_xss_corpus_renders_the_same() {
    let mut outcome = Outcome::default();
    for (raw, payload) in corpus() {
        for body in [&raw, &payload] {
            outcome.check(body);
            outcome.check(&format!("Before {body} after."));
            outcome.check(&format!(
                "# Notes\n\nSome *intro* with [a link](https://example.com/).\n\n{body}\n\n\
                 - one\n- {body}\n\n> quoted {body}\n\n1. first\n2. [x]({body})\n\n\
                 ![i]({body} \"{body}\")\n\nThe end.\n"
            ));
        }
    }
    let fast = outcome.assert_same("xss corpus");
    assert!(fast >= 200, "only {fast} corpus bodies took the fast path");
}

/// The bodies `bench/lib.sh`'s `seed` writes (MariaDB resolves the `\n` escapes).
fn bench_body(seq: u64) -> String {
    format!(
        "## Part {seq}\n\n{}\n\n- one point\n- another point\n\n```\nfn main() {{}}\n```\n\n{}",
        "Posts are written in *Markdown* and rendered on the **server**, with \
         [links](https://example.com/) and `code`. "
            .repeat(14),
        "A closing paragraph that carries the post to its realistic size. ".repeat(7),
    )
}

#[test]
fn the_benchmark_bodies_render_the_same() {
    let mut outcome = Outcome::default();
    for seq in [1, 2, 9, 10, 99, 100, 1000] {
        outcome.check(&bench_body(seq));
    }
    assert_eq!(outcome.assert_same("bench bodies"), 7);
}

/// Edge cases picked by hand: line endings, nesting, entities, odd characters.
const EDGE_CASES: &[&str] = &[
    "",
    "\n",
    "   ",
    "\r\n",
    "a\rb",
    "a\r\n\r\nb\r\n",
    "a\r\rb\n\r\nc",
    "```\r\ncode\r\nmore\r\n```\r\n",
    "    code\r\n    more\r\n",
    "x  \r\ny\\\r\nz",
    "[a](/u \"multi\r\nline\")\r\n",
    "![a\r\nb](/u 'multi\rline')",
    "\u{feff}# BOM heading",
    "\u{feff}",
    "[a]( <b c> )",
    "[![img](i.png \"t\")](/l 'u')",
    "[a <http://x.example> b](/u)",
    "[a [b](/c) d](/e)",
    "[a ![b [c](/d)](/e) f](/g)",
    "<http://a.example/[x]?a&b=c>",
    "<mailto:someone@example.com>",
    "<someone@example.com>",
    "<javascript:alert(1)>",
    "<JaVaScRiPt:alert(1)>",
    "![a ![b](c) d](e)",
    "![a [b](c) *d* `e` **f**](f \"t\")",
    "![alt\nnext  \nhard\\\nx](x)",
    "![](<>)",
    "[]()",
    "[a](<>)",
    "1. a\n\n   b\n2. c",
    "0. zero\n1. one",
    "123456789. big",
    "2) x\n3) y",
    "* a\n    * b\n        * c\n            * d",
    "- a\n\n- b\n\n  ---\n- c",
    "> # h\n> - x\n>\n> ```\n> c\n> ```\n> ***",
    "> > > > > > > > > > > > > > > > > > > > deep",
    "- - - - - - - - - x",
    "1. 2. 3. 4. x",
    "---\n---",
    "a\n---",
    "a\n===",
    "***",
    "# \n## #\n###### six\n####### seven",
    "    code\n\n    more",
    "~~~ rust\n~~~",
    "``` a&b\"c<d> e\nx\n```",
    "```\n<script>alert(1)</script>\n```",
    "`<script>` and ``a ` b``",
    "&#0; &#xFFFFFF; &#9999999; &#x0D; &#13; &#x85;",
    "&nbsp;&nbsp;x&#160;y\u{a0}z",
    "&amp; &lt; &gt; &quot; &apos; &#x3C; &#39; &copy; &bogus; &",
    "\\* \\_ \\` \\< \\> \\& \\[ \\] \\\\ \\! \\\"",
    "tab\there\x0cff\x0bvt\x7fdel\u{85}nel\u{2028}ls\u{fffd}",
    "\u{1F389} 日本語 ça 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "[x](https://ex.example/\u{a0}) ![y](/\u{a0} \"\u{a0}\")",
    "[x](\"q\") [y](<a\"b>) [z](a'b) [w](<a&amp;b>)",
    "[r][ref] [ref] ![i][ref]\n\n[ref]: /url \"ti&tle\"",
    "[r][ref]\n\n[ref]: javascript:alert(1)",
    "[r][ref]\n\n[ref]: <> 'x'",
    "*a **b** c* _d __e__ f_ ***g*** **_h_**",
    "a*b*c a_b_c **a*",
    "line one\\\nline two  \nline three",
    "trailing spaces  ",
    "# heading with `code` and [link](/x) and ![img](/y)",
];

#[test]
fn edge_cases_render_the_same() {
    let mut outcome = Outcome::default();
    for body in EDGE_CASES {
        outcome.check(body);
        outcome.check(&format!("- {}", body.replace('\n', "\n  ")));
        outcome.check(&format!("> {}", body.replace('\n', "\n> ")));
    }
    outcome.assert_same("edge cases");
}

#[test]
fn generated_bodies_render_the_same() {
    let mut rng = Rng(0x5eed_f00d_cafe_d00d);
    let mut outcome = Outcome::default();
    for _ in 0..GENERATED {
        outcome.check(&generate_body(&mut rng));
    }
    let fast = outcome.assert_same("generated bodies");
    assert!(
        fast * 3 >= GENERATED * 2,
        "only {fast} of {GENERATED} generated bodies took the fast path"
    );
}

/// How many random bodies [`generated_bodies_render_the_same`] checks.
const GENERATED: usize = 6000;

/// splitmix64: small, fast and good enough to pick grammar productions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` percent of the time.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A body: some blocks, sometimes with CR LF or CR line endings.
fn generate_body(rng: &mut Rng) -> String {
    let blocks = 1 + rng.below(6);
    let mut body = String::new();
    for i in 0..blocks {
        if i > 0 {
            body.push_str(if rng.chance(80) { "\n\n" } else { "\n" });
        }
        body.push_str(&block(rng, 0));
    }
    if rng.chance(50) {
        body.push('\n');
    }
    match rng.below(20) {
        0 | 1 => body.replace('\n', "\r\n"),
        2 => body.replace('\n', "\r"),
        _ => body,
    }
}

fn block(rng: &mut Rng, depth: usize) -> String {
    let nest = depth < 3;
    match rng.below(12) {
        0 => format!(
            "{} {}{}",
            "#".repeat(1 + rng.below(6)),
            inline_line(rng),
            if rng.chance(20) { " ##" } else { "" }
        ),
        1 => format!(
            "{}\n{}",
            inline_line(rng),
            rng.pick(&["===", "---", "=", "-- "])
        ),
        2 => fenced_code(rng),
        3 => indent(&code_lines(rng), "    ", "    "),
        4 if nest => indent(&blocks(rng, depth + 1), "> ", rng.pick(&["> ", ">", ""])),
        5 | 6 if nest => list(rng, depth + 1),
        7 => rng
            .pick(&["***", "---", "___", "* * *", " - - -"])
            .to_owned(),
        8 => reference_definition(rng),
        _ => paragraph(rng),
    }
}

/// One or two blocks, for a container.
fn blocks(rng: &mut Rng, depth: usize) -> String {
    let mut text = block(rng, depth);
    if rng.chance(30) {
        text.push_str(if rng.chance(70) { "\n\n" } else { "\n" });
        text.push_str(&block(rng, depth));
    }
    text
}

/// `text` with `first` before its first line and `rest` before the others.
fn indent(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(if i == 0 { first } else { rest });
        out.push_str(line);
    }
    out
}

fn list(rng: &mut Rng, depth: usize) -> String {
    let ordered = rng.chance(50);
    let start = [0, 1, 1, 2, 7, 42, 123_456_789][rng.below(7)];
    let bullet = rng.pick(&["-", "*", "+"]);
    let delimiter = rng.pick(&[".", ")"]);
    let loose = rng.chance(30);
    let mut out = String::new();
    for i in 0..1 + rng.below(4) {
        if i > 0 {
            out.push_str(if loose { "\n\n" } else { "\n" });
        }
        let marker = if ordered {
            format!("{}{delimiter} ", start + i)
        } else {
            format!("{bullet} ")
        };
        let content = if rng.chance(60) {
            inline_line(rng)
        } else {
            blocks(rng, depth)
        };
        out.push_str(&indent(&content, &marker, &" ".repeat(marker.len())));
    }
    out
}

fn fenced_code(rng: &mut Rng) -> String {
    let fence = rng.pick(&["```", "~~~", "````"]);
    let info = rng.pick(&[
        "",
        "rust",
        " js extra words",
        "a&b",
        "\"q\"",
        "c++ {.class}",
        "é\u{a0}x",
        "&amp;lang",
    ]);
    let close = if rng.chance(90) { fence } else { "" };
    format!("{fence}{info}\n{}\n{close}", code_lines(rng))
}

fn code_lines(rng: &mut Rng) -> String {
    let mut lines = Vec::new();
    for _ in 0..1 + rng.below(4) {
        lines.push(rng.pick(&[
            "fn main() {}",
            "<script>alert(1)</script>",
            "a && b < c > d \"e\" 'f'",
            "&amp; &nbsp; \u{a0}",
            "",
            "\tindented\ttab",
            "  two spaces",
            "日本語 🎉",
        ]));
    }
    lines.join("\n")
}

fn reference_definition(rng: &mut Rng) -> String {
    let label = rng.pick(&["ref", "Ref", "a b", "ü"]);
    format!(
        "[{label}]: {}{}\n\n[text][{label}] and [{label}] and ![alt][{label}] and [{label}][]",
        destination(rng),
        title(rng)
    )
}

fn paragraph(rng: &mut Rng) -> String {
    let mut text = inline_line(rng);
    for _ in 0..rng.below(3) {
        text.push_str(rng.pick(&["\n", "\n", "  \n", "\\\n", "   \n"]));
        text.push_str(&inline_line(rng));
    }
    text
}

fn inline_line(rng: &mut Rng) -> String {
    let mut line = String::new();
    for i in 0..1 + rng.below(7) {
        if i > 0 {
            line.push_str(rng.pick(&[" ", " ", " ", "", "\u{a0}"]));
        }
        line.push_str(&inline(rng, 0));
    }
    line
}

fn inline(rng: &mut Rng, depth: usize) -> String {
    let nest = depth < 2;
    match rng.below(20) {
        0 if nest => format!("*{}*", inline(rng, depth + 1)),
        1 if nest => format!("_{}_", inline(rng, depth + 1)),
        2 if nest => format!("**{}**", inline(rng, depth + 1)),
        3 if nest => format!("__{} {}__", inline(rng, depth + 1), word(rng)),
        4 => format!("`{}`", code_span(rng)),
        5 | 6 if nest => format!(
            "[{}]({}{})",
            inline(rng, depth + 1),
            destination(rng),
            title(rng)
        ),
        7 if nest => format!(
            "![{}]({}{})",
            inline(rng, depth + 1),
            destination(rng),
            title(rng)
        ),
        8 => format!("<{}>", autolink(rng)),
        9 => rng
            .pick(&[
                "&amp;",
                "&nbsp;",
                "&#x3C;",
                "&quot;",
                "&#39;",
                "&copy;",
                "&#0;",
                "&#xD;",
                "&bogus;",
                "&#x27;",
                "&lt;b&gt;",
            ])
            .to_owned(),
        10 => rng
            .pick(&[
                "\\*", "\\_", "\\`", "\\<", "\\&", "\\[", "\\]", "\\\\", "\\!", "\\#", "\\\"",
            ])
            .to_owned(),
        11 if rng.chance(15) => rng
            .pick(&["<b>", "</i>", "<span title=x>", "<!-- c -->"])
            .to_owned(),
        _ => word(rng).to_owned(),
    }
}

fn word(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "word",
        "Markdown",
        "café",
        "naïve",
        "日本語",
        "🎉",
        "x\u{a0}y",
        "it's",
        "\"quoted\"",
        "'single'",
        "a&b",
        "1 < 2",
        "3 > 2",
        "a <b",
        "snake_case_word",
        "2*3*4",
        "\u{feff}",
        "\u{200b}",
        "\u{2028}",
        "\t",
        "\u{0c}",
        "\u{7f}",
        "\u{85}",
        "\u{fffd}",
        "`",
        "*",
        "_",
        "[",
        "]",
        "!",
        "(",
        ")",
        "<",
        ">",
        "&",
        "https://bare.example/x",
        "foo@example.com",
    ])
}

fn code_span(rng: &mut Rng) -> String {
    rng.pick(&[
        "code",
        "<script>",
        "a && b",
        "\"q\" 'a'",
        "\u{a0}nbsp\u{a0}",
        "&amp;",
        " spaced ",
        "x\ny",
    ])
    .to_owned()
}

fn autolink(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "http://example.com",
        "https://example.com/a?b=c&d=e#f",
        "https://example.com/[x]'y'\"z\"",
        "HTTPS://EXAMPLE.COM/",
        "mailto:someone@example.com",
        "someone@example.com",
        "a.b+c@ex-ample.org",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html,x",
        "ftp://example.com/",
        "irc://x.example",
        "http://[::1]/",
        "http://ünï.example/ä",
        "x:y",
        "http://",
    ])
}

fn destination(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "https://example.com/",
        "http://example.com/a?b=c&d=e",
        "https://example.com/a_b#frag",
        "/relative/path",
        "relative.html",
        "../up",
        "?q=1",
        "#top",
        "//evil.example/x",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java&#x09;script:alert(1)",
        "java&#x0A;script:alert(1)",
        "&#106;avascript:alert(1)",
        "javascript&colon;alert(1)",
        "  javascript:alert(1) ",
        "\\javascript:alert(1)",
        "%6Aavascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "mailto:someone@example.com",
        "MAILTO:x@y.example",
        "<https://example.com/a b>",
        "<with space>",
        "<>",
        "<javascript:alert(1)>",
        "<https://example.com/\\<tag\\>>",
        "https://example.com/\"quoted\"",
        "https://example.com/'single'",
        "https://example.com/%20%zz%",
        "https://ünïcode.example/päth?q=ä",
        "https://example.com/a\u{a0}b",
        "http://[::1]/",
        "http://[::1",
        "http://",
        "https:",
        "http:foo",
        "ftp://example.com/",
        "tel:123",
        "file:///etc/passwd",
        "HTTPS://EXAMPLE.COM",
        "https://example.com/a\\b",
        "https://example.com/a&amp;b",
        "https://example.com/a&quot;b",
        "a(b)c",
        "https://user:pw@example.com:8080/p",
        "http://example.com:99999/",
        "https://example.com/`x`{y}|z|~",
        "http://1.2.3.4/",
        "http://0x7f.1/",
        "https://xn--bcher-kva.example/",
        "http:\\\\example.com",
        "",
    ])
}

fn title(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "",
        "",
        " \"Title\"",
        " 'single'",
        " (paren)",
        " \"with \\\"escaped\\\" quote\"",
        " \"a & b < c > d\"",
        " \"nbsp\u{a0}here\"",
        " \"multi\nline\"",
        " \"&amp; &quot; &#x3C; &#39;\"",
        " 'it\\'s'",
        " \"x\"onerror=\"alert(1)\"",
    ])
}
