//! Checks of the peer's own codec against RFC 7541 examples and h2spec's byte strings, so a
//! failing conformance case is never the peer's fault. These run without any server.

use libtest_mimic::{Failed, Trial};

use crate::hpack;

fn check(cond: bool, what: &str) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(what.into()) }
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0))
        .collect()
}

fn huffman_vectors() -> Result<(), Failed> {
    // h2spec's literals: "x-test" and "h2spec" Huffman-coded.
    check(
        hpack::huffman(b"x-test") == unhex("f2b24a84ff"),
        "huffman(x-test)",
    )?;
    check(
        hpack::huffman(b"h2spec") == unhex("9c48aca4"),
        "huffman(h2spec)",
    )?;
    // RFC 7541 C.4.1: "www.example.com".
    check(
        hpack::huffman(b"www.example.com") == unhex("f1e3c2e5f23a6ba0ab90f4ff"),
        "huffman(www.example.com)",
    )?;
    // h2spec hpack/5.2 strings.
    let test: Vec<u16> = b"test".iter().map(|&b| u16::from(b)).collect();
    check(
        hpack::huffman_symbols(&test, true, 8) == unhex("49509fff"),
        "padding > 7 bits",
    )?;
    check(
        hpack::huffman_symbols(&test, false, 0) == unhex("495090"),
        "zero padding",
    )?;
    let mut eos = vec![256u16];
    eos.extend(&test);
    check(
        hpack::huffman_symbols(&eos, true, 0) == unhex("fffffffd25427f"),
        "EOS",
    )?;
    // Round trips and rejections.
    for s in [&b""[..], b"a", b"hello world", b"\x00\xff\x7f binary"] {
        check(
            hpack::huffman_decode(&hpack::huffman(s)).ok().as_deref() == Some(s),
            "round trip",
        )?;
    }
    check(
        hpack::huffman_decode(&unhex("49509fff")).is_err(),
        "decoder: long padding",
    )?;
    check(
        hpack::huffman_decode(&unhex("495090")).is_err(),
        "decoder: zero padding",
    )?;
    check(
        hpack::huffman_decode(&unhex("fffffffd25427f")).is_err(),
        "decoder: EOS",
    )?;
    Ok(())
}

fn decoder_vectors() -> Result<(), Failed> {
    // RFC 7541 C.4.1-C.4.3: three requests with Huffman coding and a shared dynamic table.
    let mut d = hpack::Decoder::default();
    let f1 = d
        .decode(&unhex("828684418cf1e3c2e5f23a6ba0ab90f4ff"))
        .map_err(Failed::from)?;
    let want1 = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    check(f1.len() == 4, "C.4.1 field count")?;
    for ((n, v), (wn, wv)) in f1.iter().zip(want1) {
        check(n == wn.as_bytes() && v == wv.as_bytes(), "C.4.1 field")?;
    }
    let f2 = d
        .decode(&unhex("828684be5886a8eb10649cbf"))
        .map_err(Failed::from)?;
    check(f2.len() == 5, "C.4.2 field count")?;
    check(f2[3].1 == b"www.example.com", "C.4.2 dynamic entry")?;
    check(
        f2[4] == (b"cache-control".to_vec(), b"no-cache".to_vec()),
        "C.4.2 cache-control",
    )?;
    let f3 = d
        .decode(&unhex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))
        .map_err(Failed::from)?;
    check(f3.len() == 5, "C.4.3 field count")?;
    check(
        f3[4] == (b"custom-key".to_vec(), b"custom-value".to_vec()),
        "C.4.3 custom",
    )?;
    // Our encoder's output decodes back.
    let mut block = Vec::new();
    hpack::size_update(&mut block, 0);
    hpack::size_update(&mut block, 4096);
    check(block == b"\x20\x3f\xe1\x1f", "size updates 0, 4096")?;
    hpack::literal_new_name(&mut block, hpack::Lit::Incremental, b"x-a", b"1", true);
    hpack::literal_indexed_name(&mut block, hpack::Lit::NeverIndexed, 58, b"ua", false);
    hpack::indexed(&mut block, 62);
    let mut d = hpack::Decoder::default();
    let f = d.decode(&block).map_err(Failed::from)?;
    check(
        f.len() == 3 && f[2] == (b"x-a".to_vec(), b"1".to_vec()),
        "encoder round trip",
    )?;
    // After a lowered SETTINGS_HEADER_TABLE_SIZE, the next block must open with an update.
    let mut d2 = hpack::Decoder::default();
    d2.set_limit(0);
    check(d2.decode(&[0x88]).is_err(), "missing size update rejected")?;
    let mut d3 = hpack::Decoder::default();
    d3.set_limit(0);
    check(d3.decode(&[0x20, 0x88]).is_ok(), "size update 0 accepted")?;
    check(d3.decode(&[0x88]).is_ok(), "later blocks need no update")?;
    check(
        d3.decode(&[0x21, 0x88]).is_err(),
        "size update above the limit rejected",
    )?;
    check(d.decode(&[0x80]).is_err(), "index 0 rejected")?;
    check(d.decode(&[0xbf]).is_err(), "index 63 rejected")?;
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "selftest::peer-hpack::1 Huffman coder matches RFC 7541 and h2spec",
            huffman_vectors,
        ),
        Trial::test(
            "selftest::peer-hpack::2 Decoder matches RFC 7541 Appendix C.4",
            decoder_vectors,
        ),
    ]
}
