//! Raw bytes -> header parse, from a prefix and from a reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tensorsafe::{Header, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let from_prefix = Header::parse(data);
    let from_reader = Header::read_from(data);
    // The two entry points agree.
    assert_eq!(from_prefix.is_ok(), from_reader.is_ok());
    if let (Ok(a), Ok(b)) = (&from_prefix, &from_reader) {
        assert!(a.iter().eq(b.iter()));
        assert_eq!(a.file_len(), a.data_start() + a.data_len());
        for info in a.iter() {
            assert_eq!(a.get(info.name()), Some(info));
            let (begin, end) = info.data_offsets();
            assert!(begin <= end && end <= a.data_len());
        }
        let _ = a.check_file_len(data.len() as u64);
    }
    let mut tight = ParseOptions::default();
    tight.limits.max_header_bytes = 256;
    tight.limits.max_tensors = 4;
    tight.limits.max_rank = 3;
    tight.deny_unknown_fields = true;
    let _ = Header::parse_with(data, &tight);
    if let Err(e) = from_prefix {
        // Every error renders as one line.
        assert!(!e.to_string().contains('\n'));
    }
});
