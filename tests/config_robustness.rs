//! Loading never panics, whatever the YAML: every truncation of the seed example and thousands of
//! deterministic mutations of the examples must come back as `Ok` or as problems with a line.

use h2edge::config;

/// xorshift64*: deterministic, so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const JUNK: &[&str] = &[
    "",
    " ",
    "\t",
    ":",
    "- ",
    "---",
    "...",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "!!str ",
    "!!int ",
    "'",
    "\"",
    "|",
    ">",
    "#",
    "? ",
    ",",
    "\n",
    "\n  ",
    "~",
    "null",
    "-1",
    "99999999999999999999999",
    "0x",
    "1e999",
    "\u{0}",
    "\u{feff}",
    "é",
    "*",
    "<<: *a",
    "%YAML 1.2\n",
    "!",
    "@",
    "`",
];

/// Loads `text` and checks the result is well-formed: no parser panic, problems with lines.
fn check(name: &str, text: &str, case: &str) {
    match config::load_str(name, text) {
        Ok(_) => {}
        Err(problems) => {
            assert!(!problems.is_empty(), "{case}: Err without problems");
            for p in &problems {
                assert!(p.line >= 1, "{case}: {p}");
                assert!(!p.reason.contains("internal error"), "{case}: {p}");
            }
        }
    }
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        if lines.is_empty() {
            break;
        }
        let i = rng.below(lines.len());
        match rng.below(7) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                // Insert junk at a char boundary.
                let l = &lines[i];
                let cut = (0..=l.len())
                    .filter(|c| l.is_char_boundary(*c))
                    .nth(rng.below(l.chars().count() + 1))
                    .unwrap_or(0);
                let junk = JUNK[rng.below(JUNK.len())];
                lines[i] = format!("{}{junk}{}", &l[..cut], &l[cut..]);
            }
            3 => {
                // Re-indent.
                let l = lines[i].trim_start().to_string();
                lines[i] = format!("{}{l}", " ".repeat(rng.below(9)));
            }
            4 => {
                // Replace a value.
                if let Some((k, _)) = lines[i].split_once(": ") {
                    let junk = JUNK[rng.below(JUNK.len())];
                    lines[i] = format!("{k}: {junk}");
                }
            }
            5 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            _ => {
                // Drop a character.
                let mut chars: Vec<char> = lines[i].chars().collect();
                if !chars.is_empty() {
                    chars.remove(rng.below(chars.len()));
                }
                lines[i] = chars.into_iter().collect();
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[test]
fn every_truncation_of_the_seed_loads_without_panic() {
    let text = std::fs::read_to_string("examples/seed-gateway.yaml").expect("seed");
    let mut cut = 0;
    while cut <= text.len() {
        if text.is_char_boundary(cut) {
            check(
                "examples/seed-gateway.yaml",
                &text[..cut],
                &format!("truncated at {cut}"),
            );
        }
        cut += 5;
    }
}

#[test]
fn mutated_examples_load_without_panic() {
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    for file in [
        "examples/seed-gateway.yaml",
        "examples/lb-least-request.yaml",
        "examples/lb-maglev-cookie.yaml",
        "examples/lb-locality-failover.yaml",
    ] {
        let text = std::fs::read_to_string(file).expect("example");
        for i in 0..400 {
            let m = mutate(&mut rng, &text);
            check(file, &m, &format!("{file} mutation {i}:\n{m}"));
        }
    }
}

#[test]
fn hostile_inputs_are_problems() {
    let deep = format!("a: {}", "[".repeat(50_000));
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let mut block = String::new();
    for i in 0..500 {
        block.push_str(&" ".repeat(i));
        block.push_str("k:\n");
    }
    for (name, text) in [
        ("deep flow", deep),
        ("billion laughs", laughs),
        ("deep block", block),
        ("not a mapping", "- 1\n- 2\n".to_string()),
        ("scalar", "hello".to_string()),
        ("binary-ish", "\u{1}\u{2}: \u{3}\n".to_string()),
        ("tabs", "apiVersion: v1\n\tkind: Service\n".to_string()),
        (
            "key only",
            "apiVersion:\nkind:\nmetadata:\nspec:\n".to_string(),
        ),
        ("complex key", "? [a, b]\n: c\n".to_string()),
        (
            "null everywhere",
            "apiVersion: ~\nkind: ~\nmetadata: ~\n".to_string(),
        ),
    ] {
        let problems = config::load_str("h.yaml", &text).expect_err(name);
        assert!(problems.iter().all(|p| p.line >= 1), "{name}");
    }
    // Empty documents are fine (and empty).
    let c = config::load_str("e.yaml", "---\n# nothing\n---\n").expect("empty");
    assert!(c.gateways.is_empty());
}
