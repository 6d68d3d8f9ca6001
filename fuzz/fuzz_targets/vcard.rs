//! The vCard parser: any text gives records and line-numbered problems, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let p = trove_core::importers::vcard::parse(text);
        let lines = text.split('\n').count() as u64;
        for (l, _) in &p.problems {
            assert!(*l >= 1 && *l <= lines.max(1), "problem line {l} outside 1..={lines}");
        }
    }
});
