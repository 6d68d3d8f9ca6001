//! The vCard reader on any bytes (any encoding): entries and line-numbered problems,
//! never a panic; problems stay within the file's lines and the kept list within its cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trove_core::importers::{parse, Format, Options, Problems, MAX_PROBLEMS};

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count() as u64;
    let mut problems = Problems::default();
    let mut records = 0u64;
    let _ = parse(Format::Vcard, data.to_vec(), &Options::default(), &mut problems, &mut |p, _| {
        assert!(p.line >= 1 && p.line <= lines.max(1), "record line {} outside 1..={lines}", p.line);
        assert_eq!(p.record.record_type, "person", "an address book never becomes owner records");
        records += 1;
    });
    assert!(problems.list().len() <= MAX_PROBLEMS);
    for p in problems.list() {
        assert!(p.line <= lines.max(1), "problem line {} outside 1..={lines}", p.line);
    }
});
