//! Member-name validation and tar header parsing: only the five allow-listed names pass.
#![no_main]
use libfuzzer_sys::fuzz_target;
use trove_core::bundle::tar;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = tar::check_member_name(data) {
        assert_eq!(m.name().as_bytes(), data, "only exact allow-listed names pass");
    }
    if data.len() >= tar::BLOCK {
        let block: &[u8; tar::BLOCK] = data[..tar::BLOCK].try_into().unwrap();
        let _ = tar::parse_header(block);
    }
});
