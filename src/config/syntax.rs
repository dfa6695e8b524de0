//! Value grammars: durations, byte quantities, hostnames, names, header names, regular expressions.
//! Each checker returns the reason text used in problems.

use std::net::IpAddr;
use std::time::Duration;

use regex::{Regex, RegexBuilder};

use super::model::Pattern;

/// Gateway API `Duration`: `^([0-9]{1,5}(h|m|s|ms)){1,4}$` (GEP-2257). `0s` means zero.
pub fn gateway_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected 1 to 4 groups of up to 5 digits with a unit h, m, s or ms, such as 10s or 1m30s"
        )
    };
    let b = s.as_bytes();
    let mut i = 0;
    let mut groups = 0;
    let mut total = Duration::ZERO;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || digits > 5 {
            return Err(bad());
        }
        let n: u64 = s[start..i].parse().map_err(|_| bad())?;
        let unit = if s[i..].starts_with("ms") {
            i += 2;
            Duration::from_millis(n)
        } else {
            let d = match b.get(i) {
                Some(b'h') => Duration::from_secs(n * 3600),
                Some(b'm') => Duration::from_secs(n * 60),
                Some(b's') => Duration::from_secs(n),
                _ => return Err(bad()),
            };
            i += 1;
            d
        };
        total += unit;
        groups += 1;
    }
    if groups == 0 || groups > 4 {
        return Err(bad());
    }
    Ok(total)
}

/// A Go / protobuf-JSON duration as Istio writes them: `10s`, `1.5s`, `1h30m`, `100ms`, `0s`.
/// Units: ns, us (or µs), ms, s, m, h. Negative durations are refused.
pub fn go_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {s:?}: expected a number with a unit (ns, us, ms, s, m, h), such as 10s, 1.5s or 1h30m"
        )
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("invalid duration {s:?}: must not be negative"));
    }
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    let mut r = rest;
    while !r.is_empty() {
        let num_len = r
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(r.len());
        let num = &r[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        r = &r[num_len..];
        let unit_len = r
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(r.len());
        let scale = match &r[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        r = &r[unit_len..];
        total += value * scale;
    }
    // 100 years is far beyond any sensible timeout; it also keeps the conversion exact enough.
    if !total.is_finite() || total > 3.2e9 {
        return Err(format!("invalid duration {s:?}: too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// A Kubernetes quantity of bytes as h2edge reads it: a whole number, optionally with a binary
/// suffix `Ki`, `Mi` or `Gi` (`65536`, `64Ki`, `1Mi`). Decimal suffixes, fractions and exponents
/// are refused rather than rounded.
pub fn byte_quantity(s: &str) -> Result<u64, String> {
    let (digits, shift) = [("Ki", 10), ("Mi", 20), ("Gi", 30)]
        .iter()
        .find_map(|(suffix, shift)| s.strip_suffix(suffix).map(|d| (d, *shift)))
        .unwrap_or((s, 0));
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "invalid quantity {s:?}: expected a whole number of bytes, optionally with a suffix Ki, Mi or Gi, such as 65536, 64Ki or 1Mi"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("invalid quantity {s:?}: too large"))
}

fn is_label(l: &str) -> bool {
    !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// Gateway API `Hostname`: an optional `*.` prefix, then lowercase DNS labels; no IP addresses.
pub fn hostname(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("invalid hostname \"\": must not be empty".into());
    }
    if s.len() > 253 {
        return Err(format!(
            "invalid hostname {s:?}: longer than 253 characters"
        ));
    }
    if s.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "invalid hostname {s:?}: IP addresses are not allowed"
        ));
    }
    let body = s.strip_prefix("*.").unwrap_or(s);
    if body.split('.').all(is_label) {
        Ok(())
    } else if s.contains('*') {
        Err(format!(
            "invalid hostname {s:?}: a wildcard is only allowed as the whole first label (\"*.example.com\")"
        ))
    } else {
        Err(format!(
            "invalid hostname {s:?}: expected lowercase DNS labels (a-z, 0-9, '-') separated by dots"
        ))
    }
}

/// A DNS name for resolution (`ExternalName`, FQDN endpoints, SNI): like [`hostname`] without
/// wildcards, a trailing dot allowed.
pub fn dns_name(s: &str) -> Result<(), String> {
    let body = s.strip_suffix('.').unwrap_or(s);
    if body.starts_with("*.") {
        return Err(format!(
            "invalid DNS name {s:?}: wildcards are not allowed here"
        ));
    }
    hostname(body).map_err(|e| e.replacen("hostname", "DNS name", 1))
}

/// A Kubernetes object name (DNS-1123 subdomain).
pub fn object_name(s: &str) -> Result<(), String> {
    if s.len() <= 253 && !s.is_empty() && s.split('.').all(is_label) {
        Ok(())
    } else {
        Err(format!(
            "invalid name {s:?}: expected lowercase letters, digits, '-' and '.', at most 253 characters"
        ))
    }
}

/// A Gateway API `SectionName` (listener or port name): like an object name.
pub fn section_name(s: &str) -> Result<(), String> {
    object_name(s).map_err(|e| e.replacen("name", "section name", 1))
}

/// An HTTP header name (RFC 9110 token), at most 256 characters.
pub fn header_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid header name {s:?}: expected an HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
        ))
    }
}

/// Compiled regular expressions are bounded in size, since patterns come from files.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a match pattern. Patterns must match the whole value (RE2 / Envoy `safe_regex`
/// semantics), so the pattern is anchored.
pub fn pattern(source: &str) -> Result<Pattern, String> {
    let anchored = format!("^(?:{source})$");
    let regex: Regex = RegexBuilder::new(&anchored)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            let msg = e.to_string();
            // The regex crate's messages span lines with a caret diagram; keep the last line.
            let last = msg
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .to_string();
            format!("invalid regular expression {source:?}: {last}")
        })?;
    Ok(Pattern::new(source.to_string(), regex))
}

/// An RFC 3339 timestamp (`2026-01-02T03:04:05Z`, optional fraction, `Z` or `±hh:mm`) as Unix
/// seconds.
pub fn rfc3339_seconds(s: &str) -> Result<i64, String> {
    let bad =
        || format!("invalid timestamp {s:?}: expected RFC 3339, such as 2026-01-02T03:04:05Z");
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let part = s.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    let offset = match s.get(i..) {
        Some("Z" | "z") => 0,
        Some(tz)
            if tz.len() == 6
                && (tz.starts_with('+') || tz.starts_with('-'))
                && tz.as_bytes()[3] == b':' =>
        {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let off = oh * 3600 + om * 60;
            if tz.starts_with('-') { -off } else { off }
        }
        _ => return Err(bad()),
    };
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_durations() {
        assert_eq!(gateway_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(gateway_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(gateway_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(gateway_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(
            gateway_duration("1h1m1s1ms"),
            Ok(Duration::from_millis(3_661_001))
        );
        for bad in [
            "",
            "10",
            "1.5s",
            "123456s",
            "1d",
            "1h1m1s1ms1h",
            "-1s",
            "1 s",
        ] {
            assert!(gateway_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(go_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "10", "-1s", "1x", "1..2s", "1e400h"] {
            assert!(go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_quantities() {
        assert_eq!(byte_quantity("65535"), Ok(65_535));
        assert_eq!(byte_quantity("64Ki"), Ok(65_536));
        assert_eq!(byte_quantity("1Mi"), Ok(1 << 20));
        assert_eq!(byte_quantity("2Gi"), Ok(2 << 30));
        assert_eq!(byte_quantity("0"), Ok(0));
        for bad in [
            "", "Ki", "64K", "64k", "64KB", "1.5Mi", "1e6", "-1", "+1", " 1", "1 Ki", "0x10", "1Ti",
        ] {
            let e = byte_quantity(bad).unwrap_err();
            assert!(
                e.starts_with(&format!("invalid quantity {bad:?}: expected")),
                "{e}"
            );
        }
        assert_eq!(
            byte_quantity("99999999999999999999"),
            Err("invalid quantity \"99999999999999999999\": too large".into())
        );
        assert_eq!(
            byte_quantity("17179869184Gi"),
            Err("invalid quantity \"17179869184Gi\": too large".into())
        );
    }

    #[test]
    fn hostnames() {
        for ok in ["example.com", "*.example.com", "a-1.b", "localhost"] {
            assert!(hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Example.com",
            "*",
            "a.*.com",
            "-a.com",
            "1.2.3.4",
            "a..b",
            "a_b.com",
            "",
        ] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
        assert!(dns_name("svc.ns.svc.cluster.local.").is_ok());
        assert!(dns_name("*.x.com").is_err());
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(rfc3339_seconds("2026-01-02T03:04:05Z"), Ok(1_767_323_045));
        assert_eq!(
            rfc3339_seconds("2026-01-02T04:04:05.123+01:00"),
            Ok(1_767_323_045)
        );
        for bad in [
            "",
            "2026-01-02",
            "2026-13-02T03:04:05Z",
            "2026-01-02T03:04:05",
            "x026-01-02T03:04:05Z",
        ] {
            assert!(rfc3339_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_are_anchored() {
        let p = pattern("/a.*").unwrap();
        assert!(p.is_match("/abc"));
        assert!(!p.is_match("x/abc"));
        assert!(
            pattern("a(")
                .unwrap_err()
                .starts_with("invalid regular expression \"a(\"")
        );
    }
}
