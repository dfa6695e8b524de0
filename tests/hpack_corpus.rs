//! HPACK against the hpack-test-case corpus (https://github.com/http2jp/hpack-test-case):
//!
//! - every encoded story decodes to exactly its header lists, one decoder per story;
//! - every raw-data story round-trips through our encoder and decoder, and our encoding also
//!   decodes correctly with independent implementations;
//! - differential: our decoder and `hpack_patched` / `loona_hpack` agree on the corpus wire bytes,
//!   and on mutated wire bytes whenever both accept them.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use h2edge::h2::hpack::{DEFAULT_TABLE_SIZE, DecodeError, Decoder, Encoder};
use serde_json::Value;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/hpack-test-case"
);

type Header = (Vec<u8>, Vec<u8>);

struct Case {
    seqno: u64,
    header_table_size: Option<usize>,
    wire: Option<Vec<u8>>,
    headers: Vec<Header>,
}

struct Story {
    path: PathBuf,
    cases: Vec<Case>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn load(path: &Path) -> Story {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = json["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no cases", path.display()))
        .iter()
        .enumerate()
        .map(|(i, case)| Case {
            seqno: case["seqno"].as_u64().unwrap_or(i as u64),
            header_table_size: case["header_table_size"].as_u64().map(|n| n as usize),
            wire: case["wire"].as_str().map(unhex),
            headers: case["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .flat_map(|h| {
                    h.as_object()
                        .expect("header object")
                        .iter()
                        .map(|(name, value)| {
                            let value = value.as_str().expect("header value");
                            (name.as_bytes().to_vec(), value.as_bytes().to_vec())
                        })
                })
                .collect(),
        })
        .collect();
    Story {
        path: path.to_owned(),
        cases,
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// `(directory name, stories)` for every implementation directory (all but raw-data).
fn encoded_stories() -> Vec<(String, Vec<Story>)> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(CORPUS)
        .unwrap_or_else(|e| panic!("{CORPUS}: {e}"))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "raw-data"))
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| {
            let name = d.file_name().unwrap().to_string_lossy().into_owned();
            (name, json_files(&d).iter().map(|p| load(p)).collect())
        })
        .collect()
}

fn raw_stories() -> Vec<Story> {
    json_files(&Path::new(CORPUS).join("raw-data"))
        .iter()
        .map(|p| load(p))
        .collect()
}

/// How many cases per story the (slow, especially unoptimised) oracle decoders check: all of them
/// with `HPACK_CORPUS_FULL=1`, otherwise the first 25.
fn oracle_cases() -> usize {
    if std::env::var_os("HPACK_CORPUS_FULL").is_some() {
        usize::MAX
    } else {
        25
    }
}

fn decode(d: &mut Decoder, block: &[u8]) -> Result<Vec<Header>, DecodeError> {
    let mut out = Vec::new();
    d.decode(block, |f| out.push((f.name.to_vec(), f.value.to_vec())))?;
    Ok(out)
}

fn show(h: &[Header]) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            (
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn decode_every_encoded_story() {
    let mut stories = 0;
    let mut cases = 0;
    let mut bytes = 0;
    for (dir, list) in encoded_stories() {
        let mut dir_cases = 0;
        for story in &list {
            let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
            for case in &story.cases {
                if let Some(size) = case.header_table_size {
                    // Sent in SETTINGS and acknowledged just before this case.
                    d.set_max_table_size(size);
                }
                let wire = case.wire.as_ref().expect("wire");
                let got = decode(&mut d, wire).unwrap_or_else(|e| {
                    panic!("{} seqno {}: {e:?}", story.path.display(), case.seqno)
                });
                assert!(
                    got == case.headers,
                    "{} seqno {}:\n got {:?}\nwant {:?}",
                    story.path.display(),
                    case.seqno,
                    show(&got),
                    show(&case.headers)
                );
                assert!(d.table_size() <= d.table_capacity());
                cases += 1;
                dir_cases += 1;
                bytes += wire.len();
            }
            stories += 1;
        }
        println!("{dir}: {} stories, {dir_cases} cases", list.len());
    }
    println!("decoded {stories} stories, {cases} cases, {bytes} wire bytes");
    assert!(
        stories >= 150 && cases > 10_000,
        "corpus not found or incomplete at {CORPUS}"
    );
}

#[test]
fn raw_data_round_trips() {
    let mut stories = 0;
    let mut cases = 0;
    let (mut plain, mut encoded) = (0usize, 0usize);
    let mut oracle_checked = 0;
    for story in raw_stories() {
        let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
        let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut oracle = hpack_patched::Decoder::new();
        let mut loona = loona_hpack::Decoder::new();
        let mut out = Vec::new();
        for (i, case) in story.cases.iter().enumerate() {
            out.clear();
            e.encode(
                case.headers.iter().map(|(n, v)| (&n[..], &v[..], false)),
                &mut out,
            );
            let got = decode(&mut d, &out).unwrap_or_else(|err| {
                panic!("{} case {}: {err:?}", story.path.display(), case.seqno)
            });
            assert!(
                got == case.headers,
                "{} case {}",
                story.path.display(),
                case.seqno
            );
            assert_eq!(d.table_size(), e.table_size());
            if i < oracle_cases() {
                let theirs = oracle
                    .decode(&out)
                    .expect("hpack_patched rejects our encoding");
                assert!(
                    theirs == case.headers,
                    "hpack_patched: {} case {}",
                    story.path.display(),
                    case.seqno
                );
                let theirs = loona
                    .decode(&out)
                    .expect("loona_hpack rejects our encoding");
                assert!(
                    theirs == case.headers,
                    "loona_hpack: {} case {}",
                    story.path.display(),
                    case.seqno
                );
                oracle_checked += 1;
            }
            plain += case
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
            encoded += out.len();
            cases += 1;
        }
        stories += 1;
    }
    println!(
        "round-tripped {stories} raw stories, {cases} cases: {plain} header bytes encoded as {encoded} ({:.1}%)",
        100.0 * encoded as f64 / plain.max(1) as f64
    );
    println!("{oracle_checked} of our blocks also decoded by hpack_patched and loona_hpack");
    assert!(
        stories > 0 && cases > 1000,
        "raw-data not found at {CORPUS}"
    );
}

/// The raw-data stories through our encoder and decoder at other table sizes, with the peer's
/// SETTINGS_HEADER_TABLE_SIZE changing in the middle of each story.
#[test]
fn raw_data_round_trips_at_other_table_sizes() {
    let stories = raw_stories();
    assert!(!stories.is_empty());
    let mut cases = 0;
    for size in [0, 64, 256, 1024, 16_384, 65_536] {
        for story in &stories {
            let mut e = Encoder::new(DEFAULT_TABLE_SIZE);
            let mut d = Decoder::new(DEFAULT_TABLE_SIZE);
            let mut out = Vec::new();
            for (i, case) in story.cases.iter().enumerate() {
                if i == 0 || i == story.cases.len() / 2 {
                    let size = if i == 0 { size } else { size / 2 + 100 };
                    // SETTINGS goes out, is acknowledged, then the peer's encoder applies it.
                    d.set_max_table_size(size);
                    e.set_max_table_size(size);
                }
                out.clear();
                e.encode(
                    case.headers
                        .iter()
                        .map(|(n, v)| (&n[..], &v[..], i % 7 == 3)),
                    &mut out,
                );
                let got = decode(&mut d, &out).unwrap_or_else(|err| {
                    panic!(
                        "size {size}: {} case {}: {err:?}",
                        story.path.display(),
                        case.seqno
                    )
                });
                assert!(
                    got == case.headers,
                    "size {size}: {} case {}",
                    story.path.display(),
                    case.seqno
                );
                assert_eq!(d.table_size(), e.table_size());
                cases += 1;
            }
        }
    }
    println!("round-tripped {cases} cases at other table sizes");
}

#[test]
fn differential_against_other_decoders() {
    let mut cases = 0;
    for (_, list) in encoded_stories() {
        for story in &list {
            let mut ours = Decoder::new(DEFAULT_TABLE_SIZE);
            let mut patched = hpack_patched::Decoder::new();
            let mut loona = loona_hpack::Decoder::new();
            for case in story.cases.iter().take(oracle_cases()) {
                if let Some(size) = case.header_table_size {
                    ours.set_max_table_size(size);
                }
                let wire = case.wire.as_ref().expect("wire");
                let got = decode(&mut ours, wire).expect("our decoder");
                let p = patched.decode(wire).expect("hpack_patched");
                let l = loona.decode(wire).expect("loona_hpack");
                assert!(
                    got == p,
                    "hpack_patched differs: {} seqno {}",
                    story.path.display(),
                    case.seqno
                );
                assert!(
                    got == l,
                    "loona_hpack differs: {} seqno {}",
                    story.path.display(),
                    case.seqno
                );
                cases += 1;
            }
        }
    }
    println!("{cases} cases agree with hpack_patched and loona_hpack");
    assert!(cases > 1_000);
}

/// Every static table entry (RFC 7541 Appendix A), as an indexed field and as a literal with an
/// indexed name, decodes to what `loona_hpack` (which carries Appendix A verbatim) decodes. The corpus
/// stories never use some entries (index 15, `accept-charset`, was once misspelled here and only the
/// fuzzer noticed).
#[test]
fn static_table_agrees_with_loona() {
    for index in 1u8..=61 {
        // 0x80 | index: indexed field; 0x00 | index: literal without indexing, indexed name (4-bit
        // prefix, so indices above 14 take a continuation byte), value "v".
        let mut literal = if index < 15 {
            vec![index]
        } else {
            vec![0x0f, index - 15]
        };
        literal.extend_from_slice(b"\x01v");
        for block in [vec![0x80 | index], literal] {
            let got = decode(&mut Decoder::new(DEFAULT_TABLE_SIZE), &block).expect("ours");
            let want = loona_hpack::Decoder::new()
                .decode(&block)
                .expect("loona_hpack");
            assert_eq!(
                show(&got),
                show(&want),
                "static index {index}, block {block:02x?}"
            );
        }
    }
}

/// `hpack_patched` (like the `hpack` crate it comes from) names static entry 15 `accept-`; RFC 7541
/// Appendix A names it `accept-charset`. Spell it the RFC's way before comparing.
fn accept_charset(mut list: Vec<Header>) -> Vec<Header> {
    for (name, _) in &mut list {
        if name == b"accept-" {
            *name = b"accept-charset".to_vec();
        }
    }
    list
}

/// Mutated corpus blocks: whenever both our decoder and `hpack_patched` accept a block, they must
/// produce the same fields. Ours must never panic (theirs may; that is caught).
#[test]
fn differential_on_mutated_blocks() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut both_ok, mut ours_only, mut theirs_only, mut both_err) = (0, 0, 0, 0);
    let stories: Vec<Story> = encoded_stories()
        .into_iter()
        .flat_map(|(_, l)| l)
        .filter(|s| s.cases.len() > 1)
        .collect();
    assert!(!stories.is_empty());
    let mut theirs_only_errors = std::collections::BTreeMap::new();
    // `hpack_patched` decodes Huffman at about 1 MB/s (much less unoptimised), so keep the replayed
    // prefix of each story short.
    for round in 0..1500 {
        let story = &stories[next() as usize % stories.len()];
        let target = next() as usize % story.cases.len().min(6);
        let mut ours = Decoder::new(DEFAULT_TABLE_SIZE);
        let mut theirs = hpack_patched::Decoder::new();
        // Replay the story up to the mutated case so both have the same table.
        let mut in_step = true;
        for case in &story.cases[..target] {
            if let Some(size) = case.header_table_size {
                ours.set_max_table_size(size);
            }
            let wire = case.wire.as_ref().unwrap();
            decode(&mut ours, wire).unwrap();
            in_step &= theirs.decode(wire).is_ok();
        }
        if let Some(size) = story.cases[target].header_table_size {
            ours.set_max_table_size(size);
        }
        let mut block = story.cases[target].wire.clone().unwrap();
        for _ in 0..1 + next() % 3 {
            if block.is_empty() {
                break;
            }
            let i = next() as usize % block.len();
            match (next() % 4, round % 2) {
                (0, _) => block[i] = next() as u8,
                (1, _) => block[i] ^= 1 << (next() % 8),
                (2, _) => block.truncate(i),
                _ => block.insert(i, next() as u8),
            }
        }
        let mine = decode(&mut ours, &block);
        let other = catch_unwind(AssertUnwindSafe(|| theirs.decode(&block)));
        match (mine, other) {
            (Ok(a), Ok(Ok(b))) if in_step => {
                assert!(
                    a == accept_charset(b),
                    "{} case {target}: {block:02x?}",
                    story.path.display()
                );
                both_ok += 1;
            }
            (Ok(_), _) => ours_only += 1,
            (Err(e), Ok(Ok(_))) => {
                theirs_only += 1;
                *theirs_only_errors.entry(format!("{e:?}")).or_insert(0) += 1;
            }
            (Err(_), _) => both_err += 1,
        }
    }
    println!(
        "mutated blocks: both ok {both_ok}, only ours ok {ours_only}, only theirs ok {theirs_only} {theirs_only_errors:?}, both rejected {both_err}"
    );
    assert!(both_ok > 0);
}
