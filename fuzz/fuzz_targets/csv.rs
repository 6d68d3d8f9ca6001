//! The CSV parser: any text gives rows and line-numbered problems, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = trove_core::importers::csv::parse(text, "contact");
        let (rows, _) = trove_core::importers::csv::rows(text);
        let mut last = 0;
        for r in rows {
            assert!(r.line > last || last == 0, "rows in order");
            last = r.line;
        }
    }
});
