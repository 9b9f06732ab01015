#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    inspraak_properties::event_envelope(data);
});
