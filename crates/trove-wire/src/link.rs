//! The share link: the one string an organization receives for a grant, shown once.
//! It carries the token and where to reach the person's Trove: live (an iroh endpoint
//! id, relay URLs, direct addresses) and, for staged grants, the download location.
//!
//! Text form: `TROVE1-` then the payload in RFC 4648 base32 (upper case, no padding),
//! which is copy-paste safe and fits a QR code's alphanumeric mode. Parsing ignores
//! whitespace (links wrapped by mail clients) and case.
//!
//! Payload: a sequence of entries `tag (1 byte) | length (2 bytes, big endian) | value`,
//! then a CRC-32 (big endian) of `TROVE1` followed by the entries, so a mistyped or
//! truncated link is refused before anything is dialled. Tags below 0x80 that a reader
//! does not know are skipped (new optional data); unknown tags from 0x80 up are
//! required features, refused with "needs a newer version".
//!
//! | tag | value | |
//! |---|---|---|
//! | 0x01 | share token (ASCII) | required, once |
//! | 0x02 | iroh endpoint id (32 bytes, an Ed25519 public key) | once |
//! | 0x03 | relay URL (UTF-8) | repeatable |
//! | 0x04 | direct socket address, e.g. `192.0.2.7:41641` (UTF-8) | repeatable |
//! | 0x10 | staged copy: presigned download URL (UTF-8) | once |
//! | 0x11 | staged copy: the bundle's age identity `AGE-SECRET-KEY-1…` (UTF-8) | once |
//! | 0x12 | staged copy: the vault's Ed25519 signing key (32 bytes) | once |
//! | 0x13 | staged copy: manifest URL (UTF-8) | once |
//!
//! A link needs the token and at least one way to reach the data: an endpoint id or a
//! staged copy (URL and signing key).

use std::fmt;

use zeroize::Zeroizing;

/// The text every share link starts with (`TROVE` and the format version).
pub const LINK_PREFIX: &str = "TROVE1-";
/// The version part of the prefix, covered by the checksum.
const CHECKED_PREFIX: &[u8] = b"TROVE1";
/// The longest link accepted, in characters after the prefix (a presigned URL is the
/// longest part; 8 KiB of text is far above any real one).
pub const MAX_LINK_CHARS: usize = 8 * 1024;

const TAG_TOKEN: u8 = 0x01;
const TAG_ENDPOINT: u8 = 0x02;
const TAG_RELAY: u8 = 0x03;
const TAG_DIRECT: u8 = 0x04;
const TAG_STAGED_URL: u8 = 0x10;
const TAG_STAGED_KEY: u8 = 0x11;
const TAG_STAGED_SIGNER: u8 = 0x12;
const TAG_STAGED_MANIFEST: u8 = 0x13;
/// Tags from here up must be understood by the reader.
const FIRST_REQUIRED_TAG: u8 = 0x80;

/// A parsed share link. Holds the token: not `Clone`, `Debug` masks the secrets, and the
/// secret parts are zeroized on drop.
#[derive(Default, PartialEq, Eq)]
pub struct ShareLink {
    /// The share token (`trove_…`), sent as `Authorization: Bearer`.
    pub token: Zeroizing<String>,
    /// Where the person's Trove answers live, if it does.
    pub live: Option<LiveAddress>,
    /// The staged copy on the person's storage, for grants available while the
    /// computer is off.
    pub staged: Option<StagedCopy>,
}

/// How to dial the person's Trove over iroh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveAddress {
    /// The iroh endpoint id (the public half of the vault's endpoint key).
    pub endpoint_id: [u8; 32],
    /// Relay URLs the endpoint uses (its home relay first).
    pub relays: Vec<String>,
    /// Direct addresses known when the link was made (they may have changed since).
    pub direct: Vec<String>,
}

/// Where a staged copy of the grant's data lies and how to open and check it.
#[derive(Default, PartialEq, Eq)]
pub struct StagedCopy {
    /// Presigned download URL of the encrypted bundle.
    pub bundle_url: String,
    /// Presigned download URL of the signed manifest, if stored apart.
    pub manifest_url: Option<String>,
    /// The age identity that decrypts the bundle (absent when the bundle is encrypted
    /// to the organization's own recipient).
    pub bundle_key: Option<Zeroizing<String>>,
    /// The vault's Ed25519 public signing key, to check the manifest.
    pub signer: [u8; 32],
}

/// Why a string is not a usable share link. Each names the problem in words an
/// organization's engineer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("this is not a Trove share link: it should start with {LINK_PREFIX}")]
    NotALink,
    #[error("this share link is too long (over {MAX_LINK_CHARS} characters): was something pasted twice?")]
    TooLong,
    #[error("this share link has a character that cannot be in one ({0:?}): copy the link again")]
    BadCharacter(char),
    #[error("this share link is incomplete (it ends too early): copy the whole link again")]
    Truncated,
    #[error("this share link is damaged (its checksum does not match): copy it again exactly")]
    BadChecksum,
    #[error("this share link has no token: ask the person for a new link")]
    MissingToken,
    #[error("this share link says neither where to reach the person's Trove nor where a copy is: ask the person for a new link")]
    NoAddress,
    #[error("this share link's {0} is malformed: ask the person for a new link")]
    BadField(&'static str),
    #[error("this share link needs a newer version of the organization's software (unknown required feature {0:#04x})")]
    UnsupportedFeature(u8),
    #[error("this share link is format version {0}; this software reads version 1: update it")]
    UnsupportedVersion(u8),
}

impl LinkError {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::NotALink => "link_not_a_link",
            LinkError::TooLong => "link_too_long",
            LinkError::BadCharacter(_) => "link_bad_character",
            LinkError::Truncated => "link_truncated",
            LinkError::BadChecksum => "link_bad_checksum",
            LinkError::MissingToken => "link_missing_token",
            LinkError::NoAddress => "link_no_address",
            LinkError::BadField(_) => "link_bad_field",
            LinkError::UnsupportedFeature(_) => "link_unsupported_feature",
            LinkError::UnsupportedVersion(_) => "link_unsupported_version",
        }
    }
}

impl fmt::Debug for ShareLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareLink")
            .field("token", &"***")
            .field("live", &self.live)
            .field("staged", &self.staged)
            .finish()
    }
}

impl fmt::Debug for StagedCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedCopy")
            .field("bundle_url", &"***")
            .field("manifest_url", &self.manifest_url.as_ref().map(|_| "***"))
            .field("bundle_key", &self.bundle_key.as_ref().map(|_| "***"))
            .field("signer", &hex32(&self.signer))
            .finish()
    }
}

fn hex32(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl ShareLink {
    /// The link's text (`TROVE1-…`), to show once. Zeroized when dropped, like the token.
    pub fn encode(&self) -> Zeroizing<String> {
        let mut body = Zeroizing::new(Vec::with_capacity(256));
        put(&mut body, TAG_TOKEN, self.token.as_bytes());
        if let Some(live) = &self.live {
            put(&mut body, TAG_ENDPOINT, &live.endpoint_id);
            for r in &live.relays {
                put(&mut body, TAG_RELAY, r.as_bytes());
            }
            for d in &live.direct {
                put(&mut body, TAG_DIRECT, d.as_bytes());
            }
        }
        if let Some(s) = &self.staged {
            put(&mut body, TAG_STAGED_URL, s.bundle_url.as_bytes());
            if let Some(m) = &s.manifest_url {
                put(&mut body, TAG_STAGED_MANIFEST, m.as_bytes());
            }
            if let Some(k) = &s.bundle_key {
                put(&mut body, TAG_STAGED_KEY, k.as_bytes());
            }
            put(&mut body, TAG_STAGED_SIGNER, &s.signer);
        }
        let crc = checksum(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        let mut out = Zeroizing::new(String::with_capacity(LINK_PREFIX.len() + body.len() * 2));
        out.push_str(LINK_PREFIX);
        out.push_str(&Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&body)));
        out
    }

    /// Parses a link as pasted: surrounding and inner whitespace and letter case are
    /// ignored; everything else must be exact.
    pub fn parse(input: &str) -> Result<ShareLink, LinkError> {
        let compact: Zeroizing<String> = Zeroizing::new(
            input
                .chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        let rest = compact.strip_prefix(LINK_PREFIX).ok_or_else(|| {
            // An older or newer version says so rather than "not a link".
            match compact.strip_prefix("TROVE") {
                Some(r) if r.starts_with(|c: char| matches!(c, '2'..='9')) => {
                    LinkError::UnsupportedVersion(r.as_bytes()[0] - b'0')
                }
                _ => LinkError::NotALink,
            }
        })?;
        if rest.len() > MAX_LINK_CHARS {
            return Err(LinkError::TooLong);
        }
        if let Some(c) = rest.chars().find(|c| !matches!(c, 'A'..='Z' | '2'..='7')) {
            return Err(LinkError::BadCharacter(c));
        }
        // Base32 without padding: lengths that leave 1, 3 or 6 spare characters cannot
        // come from whole bytes, which is what a cut-off copy usually looks like.
        let bytes = Zeroizing::new(
            data_encoding::BASE32_NOPAD
                .decode(rest.as_bytes())
                .map_err(|_| LinkError::Truncated)?,
        );
        if bytes.len() < 4 {
            return Err(LinkError::Truncated);
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if checksum(body).to_be_bytes() != crc {
            return Err(LinkError::BadChecksum);
        }
        Self::from_entries(body)
    }

    fn from_entries(mut body: &[u8]) -> Result<ShareLink, LinkError> {
        let mut link = ShareLink::default();
        let mut live = LiveAddress::default();
        let mut has_endpoint = false;
        let mut staged = StagedCopy::default();
        let mut has_signer = false;
        while !body.is_empty() {
            if body.len() < 3 {
                return Err(LinkError::Truncated);
            }
            let tag = body[0];
            let len = u16::from_be_bytes([body[1], body[2]]) as usize;
            let value = body.get(3..3 + len).ok_or(LinkError::Truncated)?;
            body = &body[3 + len..];
            match tag {
                TAG_TOKEN => {
                    if !link.token.is_empty() {
                        return Err(LinkError::BadField("token"));
                    }
                    link.token = Zeroizing::new(text(value, "token")?);
                }
                TAG_ENDPOINT => {
                    live.endpoint_id = value
                        .try_into()
                        .map_err(|_| LinkError::BadField("endpoint id"))?;
                    has_endpoint = true;
                }
                TAG_RELAY => live.relays.push(text(value, "relay URL")?),
                TAG_DIRECT => live.direct.push(text(value, "direct address")?),
                TAG_STAGED_URL => staged.bundle_url = text(value, "download URL")?,
                TAG_STAGED_MANIFEST => {
                    staged.manifest_url = Some(text(value, "manifest URL")?);
                }
                TAG_STAGED_KEY => {
                    staged.bundle_key = Some(Zeroizing::new(text(value, "bundle key")?));
                }
                TAG_STAGED_SIGNER => {
                    staged.signer = value
                        .try_into()
                        .map_err(|_| LinkError::BadField("signing key"))?;
                    has_signer = true;
                }
                t if t >= FIRST_REQUIRED_TAG => return Err(LinkError::UnsupportedFeature(t)),
                _ => {} // optional data from a newer writer
            }
        }
        if link.token.is_empty() {
            return Err(LinkError::MissingToken);
        }
        if has_endpoint {
            link.live = Some(live);
        }
        if !staged.bundle_url.is_empty() {
            if !has_signer {
                return Err(LinkError::BadField("signing key"));
            }
            link.staged = Some(staged);
        }
        if link.live.is_none() && link.staged.is_none() {
            return Err(LinkError::NoAddress);
        }
        Ok(link)
    }
}

fn put(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    // Values are tokens, keys, addresses and URLs; a 64 KiB one would be a bug.
    let len = u16::try_from(value.len()).expect("link entry under 64 KiB");
    out.push(tag);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

fn text(value: &[u8], what: &'static str) -> Result<String, LinkError> {
    let s = std::str::from_utf8(value).map_err(|_| LinkError::BadField(what))?;
    if s.is_empty() || s.chars().any(char::is_control) {
        return Err(LinkError::BadField(what));
    }
    Ok(s.to_string())
}

fn checksum(body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(CHECKED_PREFIX);
    h.update(body);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "trove_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgAbCdEf";

    fn live_link() -> ShareLink {
        ShareLink {
            token: Zeroizing::new(TOKEN.into()),
            live: Some(LiveAddress {
                endpoint_id: [7; 32],
                relays: vec!["https://relay.example.org./".into()],
                direct: vec!["192.0.2.7:41641".into(), "[2001:db8::1]:41641".into()],
            }),
            staged: None,
        }
    }

    #[test]
    fn live_link_round_trips_and_is_qr_alphanumeric() {
        let text = live_link().encode();
        assert!(text.starts_with(LINK_PREFIX));
        assert!(
            text.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "only QR alphanumeric characters: {}",
            text.as_str()
        );
        assert_eq!(ShareLink::parse(&text).unwrap(), live_link());
    }

    #[test]
    fn staged_link_round_trips() {
        let mut link = live_link();
        link.staged = Some(StagedCopy {
            bundle_url: "https://s3.example.org/b/x?X-Amz-Signature=ab".into(),
            manifest_url: Some("https://s3.example.org/b/m".into()),
            bundle_key: Some(Zeroizing::new("AGE-SECRET-KEY-1QQQ".into())),
            signer: [9; 32],
        });
        let text = link.encode();
        assert_eq!(ShareLink::parse(&text).unwrap(), link);
        link.live = None;
        assert_eq!(ShareLink::parse(&link.encode()).unwrap(), link);
    }

    #[test]
    fn pasted_with_wrapping_and_lower_case_still_parses() {
        let text = live_link().encode();
        let (a, b) = text.split_at(30);
        let mangled = format!("  {}\n  {}\r\n", a.to_lowercase(), b);
        assert_eq!(ShareLink::parse(&mangled).unwrap(), live_link());
    }

    #[test]
    fn garbage_is_not_a_link() {
        for s in ["", "hello", "trove_abc", "https://example.org/x"] {
            assert_eq!(
                ShareLink::parse(s).unwrap_err(),
                LinkError::NotALink,
                "{s:?}"
            );
        }
        assert_eq!(
            ShareLink::parse("TROVE2-AAAA").unwrap_err(),
            LinkError::UnsupportedVersion(2)
        );
        assert_eq!(
            ShareLink::parse("TROVE1-AB*D").unwrap_err(),
            LinkError::BadCharacter('*')
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let text = live_link().encode();
        for cut in LINK_PREFIX.len()..text.len() {
            let e = ShareLink::parse(&text[..cut]).unwrap_err();
            assert!(
                matches!(e, LinkError::Truncated | LinkError::BadChecksum),
                "cut at {cut}: {e:?}"
            );
        }
    }

    #[test]
    fn every_single_character_typo_is_refused() {
        let text = live_link().encode();
        for i in LINK_PREFIX.len()..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(ShareLink::parse(&typo).is_err(), "typo at {i} accepted");
        }
    }

    #[test]
    fn oversized_input_is_refused_without_decoding() {
        let long = format!("{LINK_PREFIX}{}", "A".repeat(MAX_LINK_CHARS + 1));
        assert_eq!(ShareLink::parse(&long).unwrap_err(), LinkError::TooLong);
    }

    fn encode_raw(body: &[u8]) -> String {
        let mut b = body.to_vec();
        b.extend_from_slice(&checksum(body).to_be_bytes());
        format!("{LINK_PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&b))
    }

    #[test]
    fn structure_errors_name_the_problem() {
        let mut only_token = Vec::new();
        put(&mut only_token, TAG_TOKEN, TOKEN.as_bytes());
        assert_eq!(
            ShareLink::parse(&encode_raw(&only_token)).unwrap_err(),
            LinkError::NoAddress
        );
        let mut no_token = Vec::new();
        put(&mut no_token, TAG_ENDPOINT, &[1; 32]);
        assert_eq!(
            ShareLink::parse(&encode_raw(&no_token)).unwrap_err(),
            LinkError::MissingToken
        );
        let mut short_id = only_token.clone();
        put(&mut short_id, TAG_ENDPOINT, &[1; 31]);
        assert_eq!(
            ShareLink::parse(&encode_raw(&short_id)).unwrap_err(),
            LinkError::BadField("endpoint id")
        );
        let mut overlong_len = only_token.clone();
        overlong_len.extend_from_slice(&[TAG_RELAY, 0x01, 0x00, b'x']);
        assert_eq!(
            ShareLink::parse(&encode_raw(&overlong_len)).unwrap_err(),
            LinkError::Truncated
        );
    }

    #[test]
    fn unknown_optional_tags_are_skipped_and_required_ones_refused() {
        let mut body = Vec::new();
        put(&mut body, TAG_TOKEN, TOKEN.as_bytes());
        put(&mut body, TAG_ENDPOINT, &[7; 32]);
        put(&mut body, 0x40, b"from the future");
        let link = ShareLink::parse(&encode_raw(&body)).unwrap();
        assert_eq!(link.live.unwrap().endpoint_id, [7; 32]);
        put(&mut body, 0x81, b"must understand");
        assert_eq!(
            ShareLink::parse(&encode_raw(&body)).unwrap_err(),
            LinkError::UnsupportedFeature(0x81)
        );
    }

    #[test]
    fn debug_never_shows_the_token_or_keys() {
        let mut link = live_link();
        link.staged = Some(StagedCopy {
            bundle_url: "https://s3.example.org/b/x?X-Amz-Signature=secretsig".into(),
            manifest_url: None,
            bundle_key: Some(Zeroizing::new("AGE-SECRET-KEY-1SECRET".into())),
            signer: [9; 32],
        });
        let d = format!("{link:?}");
        assert!(!d.contains("trove_"), "{d}");
        assert!(!d.contains("SECRET"), "{d}");
        assert!(!d.contains("secretsig"), "{d}");
    }
}
