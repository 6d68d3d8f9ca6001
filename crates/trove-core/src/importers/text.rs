//! Text encodings of files people export: UTF-8 with or without a BOM, UTF-16 (with a BOM,
//! or recognized by its zero bytes), and Windows-1252 when the bytes are not UTF-8.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};

/// A file's text and the encoding it was read in.
#[derive(Debug)]
pub struct Decoded {
    pub text: String,
    /// `UTF-8`, `UTF-16LE`, `UTF-16BE` or `windows-1252`.
    pub encoding: &'static str,
}

/// Decodes `bytes` (consumed, so a UTF-8 file is not copied). Never fails: bytes that are
/// not valid in the detected encoding become U+FFFD.
pub fn decode(bytes: Vec<u8>) -> Decoded {
    if let Some((enc, bom)) = Encoding::for_bom(&bytes) {
        let text = enc
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
        return Decoded {
            text,
            encoding: enc.name(),
        };
    }
    if let Some(enc) = utf16_without_bom(&bytes) {
        let text = enc.decode_without_bom_handling(&bytes).0.into_owned();
        return Decoded {
            text,
            encoding: enc.name(),
        };
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded {
            text,
            encoding: UTF_8.name(),
        },
        Err(e) => {
            let bytes = e.into_bytes();
            Decoded {
                text: WINDOWS_1252
                    .decode_without_bom_handling(&bytes)
                    .0
                    .into_owned(),
                encoding: WINDOWS_1252.name(),
            }
        }
    }
}

/// UTF-16 without a BOM: text of ASCII characters has a zero in every other byte.
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(256) & !1];
    if head.len() < 8 {
        return None;
    }
    let zeros = |odd: usize| {
        head.iter()
            .skip(odd)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
    };
    let half = head.len() / 2;
    match (zeros(0), zeros(1)) {
        (0, z) if z * 10 >= half * 9 => Some(UTF_16LE),
        (z, 0) if z * 10 >= half * 9 => Some(UTF_16BE),
        _ => None,
    }
}

/// Decodes `bytes` in the encoding a vCard `CHARSET` parameter names; UTF-8 when it names
/// none (or one Trove does not know), Windows-1252 when those bytes are not UTF-8.
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    if let Some(enc) = charset.and_then(|c| Encoding::for_label(c.trim().as_bytes())) {
        if enc != UTF_8 {
            return enc.decode_without_bom_handling(bytes).0.into_owned();
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boms_utf16_and_windows_1252_are_detected() {
        let d = decode(b"\xEF\xBB\xBFN\xC3\xA4me".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("Näme", "UTF-8"));
        let d = decode(b"N\xC3\xA4me".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("Näme", "UTF-8"));
        let mut le = vec![0xFF, 0xFE];
        le.extend("Zoë,x".encode_utf16().flat_map(u16::to_le_bytes));
        let d = decode(le);
        assert_eq!((d.text.as_str(), d.encoding), ("Zoë,x", "UTF-16LE"));
        let be: Vec<u8> = "BEGIN:VCARD"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        let d = decode(be);
        assert_eq!((d.text.as_str(), d.encoding), ("BEGIN:VCARD", "UTF-16BE"));
        let d = decode(b"Stra\xDFe \x80".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("Straße €", "windows-1252"));
    }

    #[test]
    fn charset_parameters() {
        assert_eq!(decode_charset(b"M\xFCller", Some("ISO-8859-1")), "Müller");
        assert_eq!(decode_charset("Müller".as_bytes(), Some("UTF-8")), "Müller");
        assert_eq!(decode_charset(b"M\xFCller", None), "Müller");
        assert_eq!(decode_charset(b"plain", Some("no-such-charset")), "plain");
    }
}
