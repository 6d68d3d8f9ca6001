//! The CSV reader (contacts layouts and `--type contact`) on any bytes: records and
//! line-numbered problems, never a panic, and never more problems kept than the cap.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trove_core::importers::{parse, Format, Options, Problems, MAX_PROBLEMS};

fuzz_target!(|data: &[u8]| {
    for ty in [None, Some("contact")] {
        let opts = Options {
            record_type: ty.map(String::from),
            ..Default::default()
        };
        let mut problems = Problems::default();
        let _ = parse(Format::Csv, data.to_vec(), &opts, &mut problems, &mut |p, _| {
            assert!(p.line >= 1, "rows start at line 1");
            assert!(ty.is_some() || p.record.record_type == "person");
        });
        assert!(problems.list().len() <= MAX_PROBLEMS);
    }
});
