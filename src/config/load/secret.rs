//! `Secret` (type `kubernetes.io/tls`) and `ConfigMap` (a CA bundle under `ca.crt`), given inline
//! or as files named by annotations:
//!
//! - `h2edge.io/cert-file`, `h2edge.io/key-file`, `h2edge.io/ca-file`: paths, relative to the
//!   YAML file's directory unless absolute, that stand for `tls.crt`, `tls.key` and `ca.crt`.
//!
//! Every certificate and key is checked to be PEM that parses (the chain is not validated).

use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::Head;
use crate::config::read::{Cx, Fields, Loc};

pub(crate) const CERT_FILE: &str = "h2edge.io/cert-file";
pub(crate) const KEY_FILE: &str = "h2edge.io/key-file";
pub(crate) const CA_FILE: &str = "h2edge.io/ca-file";

#[derive(Debug)]
pub(crate) struct RawSecret {
    pub head: Head,
    /// `None` when missing or invalid (already reported).
    pub cert_pem: Option<Vec<u8>>,
    pub key_pem: Option<Vec<u8>>,
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Debug)]
pub(crate) struct RawConfigMap {
    pub head: Head,
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Clone, Copy, PartialEq)]
enum PemKind {
    Certificates,
    PrivateKey,
}

/// Where one item came from, to report both places when it is given twice.
struct Item {
    bytes: Vec<u8>,
    loc: Loc,
    what: String,
}

pub(crate) fn load_secret(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawSecret> {
    let type_ok = match root.get("type") {
        Some(t) => {
            let s = t.str(cx)?;
            if s != "kubernetes.io/tls" {
                cx.error(
                    t.line,
                    &t.path,
                    format!("Secret type must be kubernetes.io/tls, found {s:?}"),
                );
                false
            } else {
                true
            }
        }
        None => {
            cx.error(
                head.line,
                "type",
                "required field is missing (Secret type must be kubernetes.io/tls)",
            );
            false
        }
    };
    let data = root.get("data");
    let string_data = root.get("stringData");
    let mut data_f = data.as_ref().and_then(|d| d.map(cx));
    let mut string_f = string_data.as_ref().and_then(|d| d.map(cx));

    let mut get = |cx: &mut Cx, key: &str, annotation: &str, kind: PemKind, required: bool| {
        let mut found: Vec<Item> = Vec::new();
        // Given but unusable (already reported): not "missing" as well.
        let mut invalid = false;
        if let Some(f) = data_f.as_mut() {
            if let Some(v) = f.get(key) {
                if let Some(s) = v.str(cx) {
                    let cleaned: String = s.split_ascii_whitespace().collect();
                    match base64::engine::general_purpose::STANDARD.decode(cleaned.as_bytes()) {
                        Ok(bytes) => found.push(Item {
                            bytes,
                            loc: v.loc(),
                            what: format!("data.{key}"),
                        }),
                        Err(e) => {
                            cx.error(v.line, &v.path, format!("invalid base64: {e}"));
                            invalid = true;
                        }
                    }
                } else {
                    invalid = true;
                }
            }
        }
        if let Some(f) = string_f.as_mut() {
            if let Some(v) = f.get(key) {
                if let Some(s) = v.str(cx) {
                    found.push(Item {
                        bytes: s.into_bytes(),
                        loc: v.loc(),
                        what: format!("stringData.{key}"),
                    });
                }
            }
        }
        if let Some(p) = head.annotations.get(annotation) {
            let loc = Loc {
                line: head.line,
                path: format!("metadata.annotations.{annotation}"),
            };
            match read_file(cx, &head, p) {
                Ok(bytes) => found.push(Item {
                    bytes,
                    loc,
                    what: format!("annotation {annotation}"),
                }),
                Err(e) => {
                    cx.error_at(&loc, e);
                    invalid = true;
                }
            }
        }
        match found.len() {
            0 => {
                if required && !invalid {
                    cx.error(
                        head.line,
                        &format!("data.{key}"),
                        format!(
                            "required field is missing: give data.{key} (base64), stringData.{key} or the annotation {annotation} (a file)"
                        ),
                    );
                }
                None
            }
            1 => {
                let item = found.pop()?;
                check_pem(cx, &item, kind).then_some(item.bytes)
            }
            _ => {
                let names: Vec<&str> = found.iter().map(|i| i.what.as_str()).collect();
                cx.error_at(
                    &found[1].loc,
                    format!(
                        "{key} is given more than once ({}); keep one",
                        names.join(", ")
                    ),
                );
                None
            }
        }
    };
    let cert_pem = get(cx, "tls.crt", CERT_FILE, PemKind::Certificates, true);
    let key_pem = get(cx, "tls.key", KEY_FILE, PemKind::PrivateKey, true);
    let ca_pem = get(cx, "ca.crt", CA_FILE, PemKind::Certificates, false);
    if let Some(f) = data_f {
        f.finish(cx);
    }
    if let Some(f) = string_f {
        f.finish(cx);
    }
    root.skip("immutable");
    // An invalid Secret is still returned (without material), so that references to it are not
    // also reported as "not found".
    Some(RawSecret {
        head,
        cert_pem: cert_pem.filter(|_| type_ok),
        key_pem: key_pem.filter(|_| type_ok),
        ca_pem: ca_pem.filter(|_| type_ok),
    })
}

pub(crate) fn load_configmap(cx: &mut Cx, head: Head, root: &mut Fields) -> Option<RawConfigMap> {
    let mut found: Vec<Item> = Vec::new();
    if let Some(d) = root.get("data") {
        if let Some(mut f) = d.map(cx) {
            if let Some(v) = f.get("ca.crt") {
                if let Some(s) = v.str(cx) {
                    found.push(Item {
                        bytes: s.into_bytes(),
                        loc: v.loc(),
                        what: "data.ca.crt".into(),
                    });
                }
            }
            f.finish(cx);
        }
    }
    if let Some(p) = head.annotations.get(CA_FILE) {
        let loc = Loc {
            line: head.line,
            path: format!("metadata.annotations.{CA_FILE}"),
        };
        match read_file(cx, &head, p) {
            Ok(bytes) => found.push(Item {
                bytes,
                loc,
                what: format!("annotation {CA_FILE}"),
            }),
            Err(e) => cx.error_at(&loc, e),
        }
    }
    root.skip("immutable");
    root.skip("binaryData");
    let ca_pem = match found.len() {
        0 => None,
        1 => found
            .pop()
            .filter(|item| check_pem(cx, item, PemKind::Certificates))
            .map(|item| item.bytes),
        _ => {
            cx.error_at(
                &found[1].loc,
                "ca.crt is given twice (data.ca.crt and a file); keep one",
            );
            None
        }
    };
    Some(RawConfigMap { head, ca_pem })
}

/// Reads a file named in `head`'s document (relative to its YAML file), and notes it as one to
/// watch.
pub(crate) fn read_file(cx: &mut Cx, head: &Head, p: &str) -> Result<Vec<u8>, String> {
    if p.is_empty() {
        return Err("file path is empty".into());
    }
    let path = head.path(p);
    let read = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    if !cx.sink.referenced.contains(&path) {
        cx.sink.referenced.push(path);
    }
    read
}

/// Checks `item` is PEM of the expected kind; reports the reason at the item.
fn check_pem(cx: &mut Cx, item: &Item, kind: PemKind) -> bool {
    match pem_error(&item.bytes, kind) {
        None => true,
        Some(e) => {
            cx.error_at(&item.loc, e);
            false
        }
    }
}

/// Why `bytes` is not a PEM certificate bundle / private key, if it is not.
pub(crate) fn pem_certs_error(bytes: &[u8]) -> Option<String> {
    pem_error(bytes, PemKind::Certificates)
}

pub(crate) fn pem_key_error(bytes: &[u8]) -> Option<String> {
    pem_error(bytes, PemKind::PrivateKey)
}

fn pem_error(bytes: &[u8], kind: PemKind) -> Option<String> {
    match kind {
        PemKind::Certificates => {
            let mut n = 0;
            for c in CertificateDer::pem_slice_iter(bytes) {
                match c {
                    Ok(_) => n += 1,
                    Err(e) => return Some(format!("certificate PEM does not parse: {e}")),
                }
            }
            (n == 0).then(|| "no PEM CERTIFICATE block found".to_string())
        }
        PemKind::PrivateKey => match PrivateKeyDer::from_pem_slice(bytes) {
            Ok(_) => None,
            Err(rustls_pki_types::pem::Error::NoItemsFound) => {
                Some("no PEM PRIVATE KEY block found".to_string())
            }
            Err(e) => Some(format!("private key PEM does not parse: {e}")),
        },
    }
}
