//! Certificates out of files the settings name, and nothing else.
//!
//! A `cafile=` may name any file the user can read: a hostile one could name `~/.ssh/id_rsa`.
//! mcpcell never grants such a path; it copies the `CERTIFICATE` blocks it finds into the
//! server's state directory, so a private key, a token or any other text never crosses over,
//! even when it shares a file with a certificate.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Larger than any CA bundle in use (Mozilla's is about 220 KiB).
const MAX_FILE: u64 = 8 << 20;

/// The text of a small regular file. Opened without blocking so that a FIFO or a device
/// named as a file cannot stall the launch; anything but a regular file is refused.
pub fn read_small(path: &Path) -> std::io::Result<String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_FILE >> 20
        )));
    }
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text)?;
    Ok(text)
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// Every well-formed `CERTIFICATE` block in `text`, re-emitted from its decoded content
/// (base64 lines of 64 characters), so that nothing but base64 of a DER sequence is copied.
pub fn certificates(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let Some(len) = rest[body_start..].find(END) else {
            break;
        };
        let body = &rest[body_start..body_start + len];
        rest = &rest[body_start + len + END.len()..];
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if decode_base64(&b64).is_some_and(|der| is_der_sequence(&der)) {
            let mut pem = String::from(BEGIN);
            pem.push('\n');
            for chunk in b64.as_bytes().chunks(64) {
                // Checked above: only base64 characters.
                pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                pem.push('\n');
            }
            pem.push_str(END);
            pem.push('\n');
            out.push(pem);
        }
    }
    out
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = s.as_bytes();
    let pad = bytes.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 || bytes[..bytes.len() - pad].contains(&b'=') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for quad in bytes.chunks(4) {
        let mut n = 0u32;
        let mut real = 0;
        for &c in quad {
            n <<= 6;
            if c != b'=' {
                n |= value(c)?;
                real += 1;
            }
        }
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..real]);
    }
    Some(out)
}

/// A DER SEQUENCE whose length field covers exactly the rest of the bytes: the outer shape
/// of an X.509 certificate.
fn is_der_sequence(der: &[u8]) -> bool {
    if der.len() < 2 || der[0] != 0x30 {
        return false;
    }
    let (len, head) = match der[1] {
        n if n < 0x80 => (n as usize, 2),
        0x81..=0x84 => {
            let k = (der[1] & 0x7f) as usize;
            if der.len() < 2 + k {
                return false;
            }
            let len = der[2..2 + k]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            (len, 2 + k)
        }
        _ => return false,
    };
    head + len == der.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real self-signed certificate (openssl req -x509 -newkey ec ... -subj /CN=t).
    pub const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBbjCCAROgAwIBAgIUQ7zZHSZdscgQmmbbVhyvWOKN9qUwCgYIKoZIzj0EAwIw
DDEKMAgGA1UEAwwBdDAeFw0yNjEyMDIwNTIzMDZaFw0zNjExMjkwNTIzMDZaMAwx
CjAIBgNVBAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATRBdCpKPG6gOVb
HThsyPKEtMPybvsH99B+0eG2Mw2pi047NfA+ae8jr2WYHqMG+niEWn4wAKGhukOe
WXI+2Cifo1MwUTAdBgNVHQ4EFgQUjUIMvetYKBe7o6Gh+yBUkhkVtV8wHwYDVR0j
BBgwFoAUjUIMvetYKBe7o6Gh+yBUkhkVtV8wDwYDVR0TAQH/BAUwAwEB/zAKBggq
hkjOPQQDAgNJADBGAiEAi9zPzHPmBow4/ZoPkayiewoj788q0ZAMPv/Cuv1h2HYC
IQDyXKMbWunRmh2jEuhXZzbbzUzcvwhzSI+ymSHwDY/6Eg==
-----END CERTIFICATE-----
";

    #[test]
    fn keeps_certificates_and_drops_keys_and_text() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let mixed = format!("token=hunter2\n{key}{CERT}# trailing\n{key}");
        let got = certificates(&mixed);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(!got[0].contains("hunter2") && !got[0].contains("PRIVATE"));
        assert!(certificates(key).is_empty());
        assert!(certificates("").is_empty());
    }

    #[test]
    fn refuses_blocks_that_are_not_a_der_sequence() {
        // Base64 of "hunter2!" inside certificate markers: not a DER sequence.
        let fake = "-----BEGIN CERTIFICATE-----\naHVudGVyMiE=\n-----END CERTIFICATE-----\n";
        assert!(certificates(fake).is_empty());
        let bad = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        assert!(certificates(bad).is_empty());
        // A block without an end is not a certificate.
        assert!(certificates(&CERT.replace("-----END CERTIFICATE-----", "")).is_empty());
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(read_small(&fifo).is_err());
        assert!(read_small(Path::new("/dev/null")).is_err());
    }
}
