//! Writes safetensors files with this crate, plus a `manifest.json` of what
//! they hold, for `tests/interop/check_python.py` to load with Python
//! safetensors (run by `.ci/run`).
//!
//! `cargo run --example write_interop -- OUT_DIR`

use std::fmt::Write as _;
use std::path::PathBuf;

use tensorsafe::{Dtype, Metadata, TensorView, Writer};

struct Spec {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn spec(name: &str, dtype: Dtype, shape: &[usize], seed: u8) -> Spec {
    let len = dtype.shape_byte_len(shape).expect("whole bytes");
    let data = (0..len)
        .map(|i| match dtype {
            Dtype::BOOL => (i % 3 == 0) as u8,
            _ => (i as u8).wrapping_mul(31).wrapping_add(seed),
        })
        .collect();
    Spec {
        name: name.to_owned(),
        dtype,
        shape: shape.to_vec(),
        data,
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// (file, tensors, metadata, alignment)
type FileSpec<'a> = (&'a str, Vec<Spec>, Option<Metadata>, Option<u64>);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: write_interop OUT_DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    // (file, tensors, metadata, alignment)
    let mut files: Vec<FileSpec<'_>> = Vec::new();
    let plain = None;

    // F6 has no Python dtype; every other dtype goes in.
    let every_dtype = |prefix: &str, shape: &[usize]| -> Vec<Spec> {
        Dtype::ALL
            .iter()
            .filter(|d| d.bits() != 6)
            .enumerate()
            .map(|(i, &d)| {
                let name = format!("{prefix}.{}", d.name().to_lowercase());
                spec(&name, d, shape, i as u8)
            })
            .collect()
    };
    let all = every_dtype("t", &[2, 4]);
    let aligned = every_dtype("a", &[3, 6]);
    files.push(("all_dtypes.safetensors", all, None, plain));
    files.push(("aligned_4096.safetensors", aligned, None, Some(4096)));

    let edge = vec![
        spec("scalar", Dtype::F32, &[], 1),
        spec("empty", Dtype::F64, &[0, 3], 2),
        spec("empty_too", Dtype::U8, &[0], 3),
        spec("caf\u{e9} \u{6f22}\u{5b57} \u{1F600}", Dtype::I16, &[3], 4),
        spec("quote\" back\\ nl\n tab\t ctl\u{1}", Dtype::U8, &[1], 5),
        spec("rank4", Dtype::F16, &[2, 1, 3, 2], 6),
    ];
    let mut metadata = Metadata::new();
    metadata.insert("format".into(), "pt".into());
    metadata.insert("note \u{e9}".into(), "line\nbreak \"quoted\"".into());
    metadata.insert("empty".into(), String::new());
    files.push(("edge_cases.safetensors", edge, Some(metadata), plain));
    files.push(("no_tensors.safetensors", Vec::new(), None, plain));

    let mut manifest = String::from("{\n");
    for (i, (file, specs, metadata, alignment)) in files.iter().enumerate() {
        let views = specs
            .iter()
            .map(|s| {
                Ok((
                    s.name.as_str(),
                    TensorView::new(s.dtype, &s.shape, &s.data)?,
                ))
            })
            .collect::<Result<Vec<_>, tensorsafe::Error>>()?;
        let mut writer = Writer::new().metadata(metadata.as_ref());
        if let Some(a) = alignment {
            writer = writer.alignment(*a);
        }
        writer.to_file(views, dir.join(file))?;
        let tensors: Vec<String> = specs
            .iter()
            .map(|s| {
                let hex: String = s.data.iter().map(|b| format!("{b:02x}")).collect();
                format!(
                    "{}: {{\"dtype\": \"{}\", \"shape\": {:?}, \"hex\": \"{hex}\"}}",
                    json_string(&s.name),
                    s.dtype,
                    s.shape
                )
            })
            .collect();
        let meta = match metadata {
            None => "null".to_owned(),
            Some(m) => {
                let pairs: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
        };
        let comma = if i + 1 < files.len() { "," } else { "" };
        let _ = writeln!(
            manifest,
            "  {}: {{\"metadata\": {meta}, \"tensors\": {{{}}}}}{comma}",
            json_string(file),
            tensors.join(", ")
        );
    }
    manifest.push_str("}\n");
    std::fs::write(dir.join("manifest.json"), manifest)?;
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}
