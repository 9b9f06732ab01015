#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    inspraak_properties::grpc_timeout(data);
});
