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
    let (file, meta) = open_small(path)?;
    read_open(file, &meta)
}

/// The file at `path`, open for reading, and its metadata, if it is a regular file of at
/// most `MAX_FILE` bytes.
pub fn open_small(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
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
    Ok((file, meta))
}

/// The text of a file [`open_small`] opened.
pub fn read_open(file: std::fs::File, meta: &std::fs::Metadata) -> std::io::Result<String> {
    String::from_utf8(read_sized(&file, meta.len())?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The bytes of an open file whose metadata gave `len`, up to `MAX_FILE`. One `read` for
/// the whole file and one that finds its end (a file that grew meanwhile is read on):
/// `read_to_end` would ask for the size again (`statx`, `lseek`), or read in growing
/// pieces from 8 KiB when the file is behind a `take`.
pub fn read_sized(mut file: &std::fs::File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len.min(MAX_FILE) as usize + 1];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if buf.len() as u64 > MAX_FILE {
                break;
            }
            buf.resize((buf.len() * 2).min(MAX_FILE as usize + 1), 0);
        }
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled.min(MAX_FILE as usize));
    Ok(buf)
}

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";
/// How [`certificates`] ends each block.
const END_LINE: &[u8] = b"-----END CERTIFICATE-----\n";

/// Certificates one after the other, each a block [`certificates`] re-emitted.
#[derive(Debug, Default)]
pub struct Certs {
    /// The blocks, each ending with the `END` line and its newline (ASCII only).
    pub pem: Vec<u8>,
    /// How many blocks `pem` holds.
    pub count: usize,
}

impl Certs {
    /// A cache entry: `pem`, then a line with the number of blocks (see [`entry_end`]), so
    /// that a launch need not count them.
    pub fn to_entry(&self) -> Vec<u8> {
        entry(&self.pem, self.count)
    }

    /// Each block, with its `END` line.
    pub fn blocks(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = &self.pem[..];
        std::iter::from_fn(move || {
            let i = memchr::memmem::find(rest, END_LINE)? + END_LINE.len();
            let (block, tail) = rest.split_at(i);
            rest = tail;
            Some(block)
        })
    }
}

/// A cache entry of the `count` blocks of `pem` (see [`Certs::to_entry`]).
pub fn entry(pem: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(pem.len() + 24);
    out.extend_from_slice(pem);
    out.extend_from_slice(format!("{count}\n").as_bytes());
    out
}

/// Where the blocks of a cache entry ([`Certs::to_entry`]) end in `tail`, its last bytes
/// (at least the last `END` line and the number after it), and their number. `None` when
/// `tail` does not end as an entry does.
pub fn entry_end(tail: &[u8]) -> Option<(usize, usize)> {
    let body = tail.strip_suffix(b"\n")?;
    let at = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let count = std::str::from_utf8(&body[at..]).ok()?.parse().ok()?;
    let whole = match count {
        0 => at == 0,
        _ => body[..at].ends_with(END_LINE),
    };
    whole.then_some((at, count))
}

/// Every well-formed `CERTIFICATE` block in `text`, re-emitted from its decoded content
/// (base64 lines of 64 characters), so that nothing but base64 of a DER sequence is copied.
/// The blocks are written one after the other into one string: a system bundle has about
/// 150 certificates, and a string each cost an allocation and a copy more.
pub fn certificates(text: &str) -> Certs {
    let mut out = Certs::default();
    let mut rest = text;
    // Reused for every block.
    let mut b64 = Vec::new();
    let mut der = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let left = rest.len() - start;
        let body_start = start + BEGIN.len();
        let Some(len) = rest[body_start..].find(END) else {
            break;
        };
        let body = &rest.as_bytes()[body_start..body_start + len];
        rest = &rest[body_start + len + END.len()..];
        b64.clear();
        b64.extend(body.iter().copied().filter(|c| !c.is_ascii_whitespace()));
        if is_certificate(&b64, &mut der) {
            let pem = &mut out.pem;
            if pem.is_empty() {
                // At most the rest of the text, with a line break per 64 characters: one
                // allocation instead of a copy per doubling.
                pem.reserve(left + left / 64 + 64);
            }
            pem.extend_from_slice(BEGIN.as_bytes());
            pem.push(b'\n');
            for chunk in b64.chunks(64) {
                // Checked by the decoder: only base64 characters.
                pem.extend_from_slice(chunk);
                pem.push(b'\n');
            }
            pem.extend_from_slice(END_LINE);
            out.count += 1;
        }
    }
    out
}

/// Whether `b64` is padded base64 of a DER SEQUENCE whose length field covers exactly the
/// decoded bytes. Only the head is decoded: the rest is checked character by character and
/// its decoded length computed, which is all the check needs (a system bundle has ~150
/// certificates, read at every launch).
fn is_certificate(b64: &[u8], scratch: &mut Vec<u8>) -> bool {
    if b64.len() < 8 || b64.len() % 4 != 0 {
        return false;
    }
    let pad = b64.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2
        || b64[..b64.len() - pad]
            .iter()
            .any(|&c| BASE64[c as usize] == 0xff)
    {
        return false;
    }
    let decoded_len = b64.len() / 4 * 3 - pad;
    // 8 characters: the tag, a length byte and up to 4 more length bytes.
    if !decode_base64(&b64[..8], scratch) {
        return false;
    }
    der_sequence_len(scratch) == Some(decoded_len)
}

/// The value of each base64 character; 0xff for every other byte.
const BASE64: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'+' as usize] = 62;
    t[b'/' as usize] = 63;
    t
};

/// Decodes padded base64 into `out` (cleared first); false when `s` is not that.
fn decode_base64(s: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    if s.is_empty() || s.len() % 4 != 0 {
        return false;
    }
    let pad = s.iter().rev().take_while(|&&c| c == b'=').count();
    if pad > 2 {
        return false;
    }
    let data = &s[..s.len() - pad];
    out.reserve(s.len() / 4 * 3);
    let mut chunks = data.chunks_exact(4);
    for quad in &mut chunks {
        let (a, b, c, d) = (
            BASE64[quad[0] as usize],
            BASE64[quad[1] as usize],
            BASE64[quad[2] as usize],
            BASE64[quad[3] as usize],
        );
        if (a | b | c | d) == 0xff {
            return false;
        }
        let n = (a as u32) << 18 | (b as u32) << 12 | (c as u32) << 6 | d as u32;
        out.extend_from_slice(&n.to_be_bytes()[1..]);
    }
    // The last, padded group: 2 or 3 characters for 1 or 2 bytes.
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut n = 0u32;
        for &c in tail {
            let v = BASE64[c as usize];
            if v == 0xff {
                return false;
            }
            n = n << 6 | v as u32;
        }
        n <<= 6 * (4 - tail.len() as u32);
        out.extend_from_slice(&n.to_be_bytes()[1..tail.len()]);
    }
    true
}

/// The whole length (header included) of a DER SEQUENCE that starts `head`: the outer shape
/// of an X.509 certificate. `None` when `head` does not start one.
fn der_sequence_len(head: &[u8]) -> Option<usize> {
    if head.len() < 2 || head[0] != 0x30 {
        return None;
    }
    match head[1] {
        n if n < 0x80 => Some(2 + n as usize),
        0x81..=0x84 => {
            let k = (head[1] & 0x7f) as usize;
            let bytes = head.get(2..2 + k)?;
            Some(2 + k + bytes.iter().fold(0usize, |acc, &b| (acc << 8) | b as usize))
        }
        _ => None,
    }
}

#[cfg(test)]
pub(super) mod tests {
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
        assert_eq!(got.count, 1, "{got:?}");
        assert_eq!(got.pem, CERT.as_bytes());
        assert_eq!(certificates(key).count, 0);
        assert!(certificates("").pem.is_empty());
    }

    #[test]
    fn cache_entries_are_taken_back_whole_or_not_at_all() {
        let two = certificates(&format!("{CERT}{CERT}"));
        assert_eq!(two.count, 2);
        let entry = two.to_entry();
        let (at, count) = entry_end(&entry).unwrap();
        assert_eq!((count, &entry[..at]), (2, &two.pem[..]));
        // From a tail of the entry too: where the blocks end within it.
        let tail = &entry[entry.len() - 64..];
        assert_eq!(entry_end(tail), Some((at - (entry.len() - 64), 2)));
        let blocks: Vec<&[u8]> = two.blocks().collect();
        assert_eq!(blocks, [CERT.as_bytes(), CERT.as_bytes()]);
        assert_eq!(entry_end(&Certs::default().to_entry()), Some((0, 0)));
        // Cut short, or not ending with its number: not an entry.
        let entry = two.to_entry();
        for bad in [
            &entry[..entry.len() - 1],
            &entry[..entry.len() - 3],
            &two.pem[..],
            b"2\n",
            b"",
            b"-----END CERTIFICATE-----\nx\n",
        ] {
            assert!(entry_end(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_file_is_read_whole_whatever_its_size_said() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "0123456789").unwrap();
        for claimed in [0, 3, 10, 11, 4096] {
            let file = std::fs::File::open(&f).unwrap();
            assert_eq!(read_sized(&file, claimed).unwrap(), b"0123456789");
        }
    }

    #[test]
    fn base64_decoding() {
        let mut out = Vec::new();
        for (input, want) in [
            ("TWFu", Some(&b"Man"[..])),
            ("TWE=", Some(b"Ma")),
            ("TQ==", Some(b"M")),
            ("TWFuTWE=", Some(b"ManMa")),
            ("TQ=A", None),
            ("T===", None),
            ("TWF", None),
            ("TW-u", None),
            ("", None),
        ] {
            let ok = decode_base64(input.as_bytes(), &mut out);
            assert_eq!(ok.then_some(&out[..]), want, "{input}");
        }
    }

    #[test]
    fn refuses_blocks_that_are_not_a_der_sequence() {
        // Base64 of "hunter2!" inside certificate markers: not a DER sequence.
        let fake = "-----BEGIN CERTIFICATE-----\naHVudGVyMiE=\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(fake).count, 0);
        let bad = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(bad).count, 0);
        // A block without an end is not a certificate.
        assert!(
            certificates(&CERT.replace("-----END CERTIFICATE-----", ""))
                .pem
                .is_empty()
        );
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
