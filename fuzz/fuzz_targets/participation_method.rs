#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    inspraak_properties::participation_method(data);
});
