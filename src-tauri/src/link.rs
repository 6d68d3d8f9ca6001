//! The share link as the create-grant dialog shows it once: the text, and a QR code of
//! it rendered as SVG (the link's base32 alphabet fits QR's compact alphanumeric mode).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// The link as an SVG QR code (low error correction: it is shown on a screen), or
/// `None` when it is too long for one QR code (a staged link with long download URLs can
/// be); the text and the Copy button work regardless.
pub fn qr_svg(link: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::L).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_a_square_svg_and_an_oversized_one_none() {
        let link = format!("TROVE1-{}", "A".repeat(600));
        let svg = qr_svg(&link).expect("a typical link fits");
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg:.80}");
        let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::L).unwrap();
        assert_eq!(
            code.width() % 4,
            1,
            "a real QR symbol (17 + 4 × version modules)"
        );
        assert!(
            qr_svg(&format!("TROVE1-{}", "A".repeat(5000))).is_none(),
            "more than a version 40 symbol holds"
        );
    }
}
