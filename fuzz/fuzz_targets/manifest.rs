//! The bundle manifest parser: any bytes give a manifest or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = trove_core::bundle::parse_manifest(data) {
        // A manifest that parsed must serialize and parse again to the same value.
        let again = serde_json_roundtrip(&v.manifest);
        assert_eq!(again, v.manifest);
    }
});

fn serde_json_roundtrip(m: &trove_core::bundle::Manifest) -> trove_core::bundle::Manifest {
    let bytes = trove_core::bundle::manifest_json(m);
    trove_core::bundle::parse_manifest(&bytes).expect("re-parse").manifest
}
