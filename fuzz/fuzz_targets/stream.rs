//! Arbitrary declarations and chunk writes -> the streaming writer's byte
//! accounting matches a simple model, and a finished stream reads back as
//! exactly the bytes written.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tensorsafe::{Declaration, Dtype, SafeTensors, Writer};

#[derive(Debug, Arbitrary)]
struct Input {
    sizes: Vec<u8>,
    writes: Vec<(u8, u8)>,
}

fuzz_target!(|input: Input| {
    let sizes: Vec<usize> = input.sizes.iter().take(6).map(|&s| usize::from(s % 9)).collect();
    let names: Vec<String> = (0..sizes.len()).map(|i| format!("t{i}")).collect();
    let declarations = names.iter().zip(&sizes).map(|(n, &s)| Declaration::new(n.clone(), Dtype::U8, [s]));
    let mut out = Vec::new();
    let mut writer = Writer::new().stream(&mut out, declarations).expect("valid declarations");
    // The model: which tensor is current and how many bytes it has.
    let (mut current, mut written) = (0usize, 0usize);
    let mut expected: Vec<Vec<u8>> = sizes.iter().map(|_| Vec::new()).collect();
    for (who, len) in input.writes.into_iter().take(32) {
        let target = usize::from(who) % (names.len() + 1);
        let chunk: Vec<u8> = (0..usize::from(len % 12)).map(|i| (i as u8) ^ who).collect();
        let name = names.get(target).map_or("undeclared", String::as_str);
        let result = writer.write(name, &chunk);
        // Model: skip past complete tensors, then the write must target the current one.
        let mut at = current;
        let mut w = written;
        while at < sizes.len() && w == sizes[at] {
            at += 1;
            w = 0;
        }
        let allowed = chunk.is_empty() && target < names.len()
            || (at == target && at < sizes.len() && w + chunk.len() <= sizes[at]);
        assert_eq!(result.is_ok(), allowed, "write {len} bytes to {name}: {result:?}");
        if allowed && !chunk.is_empty() {
            current = at;
            written = w + chunk.len();
            expected[at].extend_from_slice(&chunk);
        }
    }
    let complete = expected.iter().zip(&sizes).all(|(e, &s)| e.len() == s);
    let finished = writer.finish();
    assert_eq!(finished.is_ok(), complete);
    if complete {
        let st = SafeTensors::deserialize(&out).expect("valid");
        for (name, bytes) in names.iter().zip(&expected) {
            assert_eq!(st.tensor(name).expect("present").data(), bytes.as_slice());
        }
    }
});
