//! Photo decoding: any bytes through the face engine's decode entry point, with the
//! service's limits (15 MiB, 40 megapixels). It must return an image or an error, never
//! panic, and never allocate more than the limits allow (libFuzzer's -rss_limit_mb).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollcall_face::Limits;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(image) = rollcall_face::decode(data, &limits) {
        let pixels = u64::from(image.width()) * u64::from(image.height());
        assert!(pixels > 0 && pixels <= limits.max_pixels);
        assert_eq!(image.as_raw().len() as u64, pixels * 3);
    }
});
