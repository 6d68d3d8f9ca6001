//! A small, strict ustar writer and reader for bundles: regular files with short names
//! only. The reader trusts no header: names are allow-listed, types and sizes checked.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// The tar block size.
pub const BLOCK: usize = 512;

/// The members a bundle may hold, in the order Trove writes them.
pub const MEMBERS: [&str; 5] = [
    "manifest.json",
    "records.jsonl",
    "grants.jsonl",
    "receipts.jsonl",
    "log.jsonl",
];

/// The largest size an octal size field holds (11 digits); larger sizes use base-256.
const OCTAL_MAX: u64 = 0o77777777777;

/// A ustar header for a regular file `name` (at most 100 bytes) of `size` bytes.
pub fn file_header(name: &str, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let n = name.as_bytes();
    assert!(n.len() <= 100, "member names are short constants");
    h[..n.len()].copy_from_slice(n);
    put_octal(&mut h[100..108], 0o600);
    put_octal(&mut h[108..116], 0);
    put_octal(&mut h[116..124], 0);
    if size <= OCTAL_MAX {
        put_octal(&mut h[124..136], size);
    } else {
        // GNU base-256: high bit set, big-endian value in the remaining bytes.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    put_octal(&mut h[136..148], mtime.min(OCTAL_MAX));
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let cks = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(cks.as_bytes());
    h
}

/// Zero bytes needed after `size` bytes of data to reach a block boundary.
pub fn padding(size: u64) -> usize {
    let rem = (size % BLOCK as u64) as usize;
    if rem == 0 {
        0
    } else {
        BLOCK - rem
    }
}

/// Writes the padding after a member's data.
pub fn write_padding(w: &mut (impl Write + ?Sized), size: u64) -> io::Result<()> {
    w.write_all(&[0u8; BLOCK][..padding(size)])
}

/// Writes the end-of-archive marker (two zero blocks).
pub fn write_end(w: &mut (impl Write + ?Sized)) -> io::Result<()> {
    w.write_all(&[0u8; 2 * BLOCK])
}

fn put_octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// A bundle member, identified by its allow-listed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Member {
    Manifest,
    Records,
    Grants,
    Receipts,
    Log,
}

impl Member {
    /// The member's file name inside the tar.
    pub fn name(self) -> &'static str {
        MEMBERS[self as usize]
    }

    /// The member called `name`, if it is one.
    pub fn from_name(name: &str) -> Option<Member> {
        Some(match name {
            "manifest.json" => Member::Manifest,
            "records.jsonl" => Member::Records,
            "grants.jsonl" => Member::Grants,
            "receipts.jsonl" => Member::Receipts,
            "log.jsonl" => Member::Log,
            _ => return None,
        })
    }
}

/// Shows an untrusted name in an error: escaped, at most 80 characters.
pub fn show_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out: String = format!("{s:?}").chars().take(80).collect();
    if out.chars().count() == 80 {
        out.push('…');
    }
    out
}

/// Checks a member name exactly as it appears in the tar (name field, or prefix/name)
/// and says precisely what is wrong with an unsafe or unexpected one.
pub fn check_member_name(raw: &[u8]) -> Result<Member> {
    let bad = |why: &str| {
        Err(Error::BundleMember(format!(
            "member name {} {why}",
            show_name(raw)
        )))
    };
    if raw.is_empty() {
        return bad("is empty");
    }
    if raw.contains(&0) {
        return bad("contains a NUL byte");
    }
    let Ok(name) = std::str::from_utf8(raw) else {
        return bad("is not UTF-8");
    };
    if raw.len() > 100 {
        return bad("is longer than 100 bytes");
    }
    let b = name.as_bytes();
    if b[0] == b'/' || b[0] == b'\\' || (b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':')
    {
        return bad("is an absolute path");
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return bad("climbs out of the archive (`..`)");
    }
    if name.contains('\\') {
        return bad("contains a backslash");
    }
    if name.chars().any(char::is_control) {
        return bad("contains control characters");
    }
    if name.contains('/') {
        return bad("is in a directory (bundles hold top-level files only)");
    }
    match Member::from_name(name) {
        Some(m) => Ok(m),
        None => bad(&format!(
            "is not a bundle member (allowed: {})",
            MEMBERS.join(", ")
        )),
    }
}

/// One parsed, not yet trusted, tar header.
#[derive(Debug)]
pub struct Header {
    /// The full name: `prefix/name` when a ustar prefix is present.
    pub name: Vec<u8>,
    /// The type flag byte.
    pub kind: u8,
    /// The declared data size.
    pub size: u64,
}

impl Header {
    /// What kind of member this is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            b'0' | 0 => "regular file",
            b'1' => "hard link",
            b'2' => "symbolic link",
            b'3' => "character device",
            b'4' => "block device",
            b'5' => "directory",
            b'6' => "FIFO",
            b'7' => "contiguous file",
            b'x' | b'g' => "pax extended header",
            b'L' | b'K' => "GNU long name header",
            _ => "member of unknown type",
        }
    }

    /// True for a plain regular file.
    pub fn is_regular(&self) -> bool {
        matches!(self.kind, b'0' | 0)
    }
}

/// What the next 512-byte block holds.
#[derive(Debug)]
pub enum Block {
    /// A member header.
    Header(Header),
    /// A zero block: the end of the archive.
    End,
}

/// Parses one header block. Errors name what is wrong with it.
pub fn parse_header(h: &[u8; BLOCK]) -> Result<Block> {
    if h.iter().all(|&b| b == 0) {
        return Ok(Block::End);
    }
    let damaged = |why: &str| Err(Error::BundleDamaged(format!("bad tar header: {why}")));
    let stored = match parse_octal(&h[148..156]) {
        Some(v) => v,
        None => return damaged("the checksum field is not a number"),
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u64
            }
        })
        .sum();
    if sum != stored {
        return damaged("checksum mismatch (truncated, altered, or not a tar archive)");
    }
    let magic = &h[257..265];
    if magic != b"ustar\x0000" && magic != b"ustar  \0" {
        return damaged("not a ustar header");
    }
    let size = if h[124] & 0x80 != 0 {
        if h[124] != 0x80 || h[125..128].iter().any(|&b| b != 0) {
            return damaged("the size field is out of range");
        }
        u64::from_be_bytes(h[128..136].try_into().expect("8 bytes"))
    } else {
        match parse_octal(&h[124..136]) {
            Some(v) => v,
            None => return damaged("the size field is not a number"),
        }
    };
    let field = &h[..100];
    let end = field.iter().position(|&b| b == 0).unwrap_or(100);
    let mut name = field[..end].to_vec();
    if field[end..].iter().any(|&b| b != 0) {
        // Bytes after a NUL: a name trying to hide its tail from C-string readers.
        name = field
            .iter()
            .rposition(|&b| b != 0)
            .map_or(vec![], |last| field[..=last].to_vec());
    }
    let prefix = &h[345..500];
    let pend = prefix.iter().position(|&b| b == 0).unwrap_or(155);
    if pend > 0 {
        let mut full = prefix[..pend].to_vec();
        full.push(b'/');
        full.extend_from_slice(&name);
        name = full;
    }
    Ok(Block::Header(Header {
        name,
        kind: h[156],
        size,
    }))
}

/// Parses an octal numeric field: optional leading spaces, digits, then NUL/space padding.
fn parse_octal(f: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i < f.len() && f[i] == b' ' {
        i += 1;
    }
    let start = i;
    let mut v: u64 = 0;
    while i < f.len() && (b'0'..=b'7').contains(&f[i]) {
        v = v.checked_mul(8)?.checked_add((f[i] - b'0') as u64)?;
        i += 1;
    }
    if i == start || f[i..].iter().any(|&b| b != 0 && b != b' ') {
        return None;
    }
    Some(v)
}

/// Reads exactly one block, or says the archive is truncated.
pub fn read_block(r: &mut (impl Read + ?Sized), buf: &mut [u8; BLOCK]) -> Result<()> {
    read_full(r, buf, "the archive ends in the middle of a header")
}

/// `read_exact` with errors mapped to "damaged": a short read is a truncated file, any
/// other I/O error from the decrypting reader means an altered or truncated stream.
pub fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| stream_error(e, what))
}

/// Maps an I/O error while reading a bundle to a clear error.
pub fn stream_error(e: io::Error, what: &str) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::BundleDamaged(format!("truncated: {what}")),
        _ => match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            Some(Error::BundleTooLarge(m)) => Error::BundleTooLarge(m.clone()),
            _ => Error::BundleDamaged(format!("the data does not decrypt or read cleanly ({e})")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_tar_cli_format_is_accepted() {
        let h = file_header("records.jsonl", 1234, 1_700_000_000);
        match parse_header(&h).unwrap() {
            Block::Header(hd) => {
                assert_eq!(hd.name, b"records.jsonl");
                assert_eq!(hd.size, 1234);
                assert!(hd.is_regular());
            }
            Block::End => panic!("not an end block"),
        }
        let big = file_header("records.jsonl", 20 << 30, 0);
        match parse_header(&big).unwrap() {
            Block::Header(hd) => assert_eq!(hd.size, 20 << 30, "base-256 sizes"),
            Block::End => panic!(),
        }
    }

    #[test]
    fn altered_header_fails_checksum() {
        let mut h = file_header("records.jsonl", 10, 0);
        h[3] ^= 1;
        let e = parse_header(&h).unwrap_err();
        assert!(e.to_string().contains("checksum"), "{e}");
    }

    #[test]
    fn member_names_are_allow_listed_and_tricks_are_named() {
        assert_eq!(
            check_member_name(b"records.jsonl").unwrap(),
            Member::Records
        );
        let cases: &[(&[u8], &str)] = &[
            (b"../x", "climbs out"),
            (b"a/../../x", "climbs out"),
            (b"/abs", "absolute"),
            (b"C:\\x", "absolute"),
            (b"..\\x", "climbs out"),
            (b"..././x", "directory"),
            (b"records.jsonl\0../x", "NUL"),
            ("．．/x".as_bytes(), "directory"),
            ("．．".as_bytes(), "not a bundle member"),
            (b"./records.jsonl", "directory"),
            (b"Records.jsonl", "not a bundle member"),
            (b"records.jsonl\n", "control"),
            (b"", "empty"),
            (&[0xff, 0xfe], "UTF-8"),
        ];
        for (name, why) in cases {
            let e = check_member_name(name).unwrap_err();
            assert_eq!(e.code(), "bundle_member");
            assert!(e.to_string().contains(why), "{}: {e}", show_name(name));
        }
        let long = "a".repeat(300);
        assert!(check_member_name(long.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("longer than 100"));
    }
}
