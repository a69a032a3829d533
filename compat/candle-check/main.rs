//! Runs candle's own safetensors functions on this repository's compat
//! crate (patched in for `safetensors` 0.8.0 by `compat/candle_check.sh`)
//! and checks the values: golden files through `load`, `load_buffer` and
//! `MmapedSafetensors`, and round trips through `save` and
//! `Tensor::save_safetensors`.
//!
//! `main GOLDEN_DIR OUT_DIR`; exits non-zero on any mismatch.

use std::collections::HashMap;
use std::path::Path;

use candle_core::safetensors::{load, load_buffer, save, MmapedSafetensors};
use candle_core::{DType, Device, Tensor};
// Only the compat crate has this re-export: compiling proves the patch
// took effect under candle.
use safetensors::tensorsafe;

type Check = Result<(), String>;

/// The tensors of a file as (dtype, shape, bytes), read by tensorsafe.
fn contents(bytes: &[u8]) -> HashMap<String, (String, Vec<usize>, Vec<u8>)> {
    let st = tensorsafe::SafeTensors::deserialize(bytes).expect("a valid file");
    st.iter()
        .map(|(name, v)| {
            let value = (v.dtype().to_string(), v.shape().to_vec(), v.data().to_vec());
            (name.to_string(), value)
        })
        .collect()
}

/// What candle holds, written back by candle's `save`, as file bytes.
fn saved(tensors: &HashMap<String, Tensor>, out: &Path) -> Result<Vec<u8>, String> {
    save(tensors, out).map_err(|e| format!("save: {e}"))?;
    std::fs::read(out).map_err(|e| e.to_string())
}

fn check_golden(path: &Path, out: &Path) -> Result<bool, String> {
    let device = Device::Cpu;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let loaded = match load(path, &device) {
        Ok(map) => map,
        // candle has no type for some dtypes (BOOL, C64, F4, ...): it must
        // say so, not fail to parse.
        Err(e) => {
            let text = e.to_string();
            if text.contains("unsupported safetensor dtype") {
                println!(
                    "    candle refuses a dtype: {}",
                    text.lines().next().unwrap_or("")
                );
                return Ok(false);
            }
            return Err(format!("load failed: {text}"));
        }
    };
    // Same tensors, same bytes, as tensorsafe reads them from the file.
    let original = contents(&bytes);
    let via_load = saved(&loaded, &out.join("via_load.safetensors"))?;
    if contents(&via_load) != original {
        return Err("load + save changed the tensors".into());
    }
    // load_buffer and MmapedSafetensors give the same.
    let buffered = load_buffer(&bytes, &device).map_err(|e| format!("load_buffer: {e}"))?;
    if saved(&buffered, &out.join("via_buffer.safetensors"))? != via_load {
        return Err("load_buffer differs from load".into());
    }
    // SAFETY: the golden files are not modified while mapped.
    let mapped = unsafe { MmapedSafetensors::new(path) }.map_err(|e| format!("mmap: {e}"))?;
    let names: Vec<String> = mapped.tensors().into_iter().map(|(n, _)| n).collect();
    if names.len() != original.len() {
        return Err(format!("MmapedSafetensors lists {} tensors", names.len()));
    }
    let mut by_mmap = HashMap::new();
    for name in names {
        let t = mapped
            .load(&name, &device)
            .map_err(|e| format!("mmap load {name}: {e}"))?;
        by_mmap.insert(name, t);
    }
    if saved(&by_mmap, &out.join("via_mmap.safetensors"))? != via_load {
        return Err("MmapedSafetensors differs from load".into());
    }
    Ok(true)
}

fn round_trip(out: &Path) -> Check {
    let device = Device::Cpu;
    let fail = |e: candle_core::Error| e.to_string();
    let weight = Tensor::arange(0f32, 12f32, &device)
        .and_then(|t| t.reshape((3, 4)))
        .map_err(fail)?;
    let mut tensors = HashMap::new();
    tensors.insert("weight".to_string(), weight.clone());
    tensors.insert(
        "half".to_string(),
        weight.to_dtype(DType::BF16).map_err(fail)?,
    );
    tensors.insert(
        "ids".to_string(),
        Tensor::new(&[3i64, -1, 7], &device).map_err(fail)?,
    );
    tensors.insert(
        "bytes".to_string(),
        Tensor::new(&[1u8, 2, 255], &device).map_err(fail)?,
    );
    let path = out.join("round_trip.safetensors");
    save(&tensors, &path).map_err(fail)?;

    let back = load(&path, &device).map_err(fail)?;
    let w: Vec<Vec<f32>> = back["weight"].to_vec2().map_err(fail)?;
    if w != weight.to_vec2::<f32>().map_err(fail)? {
        return Err(format!("weight read back as {w:?}"));
    }
    let h: Vec<Vec<f32>> = back["half"]
        .to_dtype(DType::F32)
        .and_then(|t| t.to_vec2())
        .map_err(fail)?;
    if h != w {
        return Err(format!("bf16 read back as {h:?}"));
    }
    if back["ids"].to_vec1::<i64>().map_err(fail)? != [3, -1, 7] {
        return Err("i64 values changed".into());
    }
    if back["bytes"].to_vec1::<u8>().map_err(fail)? != [1, 2, 255] {
        return Err("u8 values changed".into());
    }
    // The file is valid for tensorsafe too, with the expected bytes.
    let file = std::fs::read(&path).map_err(|e| e.to_string())?;
    let read = contents(&file);
    let expect: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
    if read["weight"] != ("F32".to_string(), vec![3, 4], expect) {
        return Err("tensorsafe reads another weight".into());
    }

    // A broken file is an error through candle, not a panic.
    let broken = out.join("broken.safetensors");
    std::fs::write(&broken, b"\x0d\0\0\0\0\0\0\0{\"a\":{\"b\":1}}").map_err(|e| e.to_string())?;
    if load(&broken, &device).is_ok() || load_buffer(b"\x01", &device).is_ok() {
        return Err("a broken file loaded".into());
    }

    // Tensor::save_safetensors: one tensor under a name.
    let single = out.join("single.safetensors");
    weight.save_safetensors("w", &single).map_err(fail)?;
    let back = load(&single, &device).map_err(fail)?;
    if back.len() != 1 || back["w"].to_vec2::<f32>().map_err(fail)? != w {
        return Err("save_safetensors round trip changed the tensor".into());
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (golden, out) = match args.as_slice() {
        [_, golden, out] => (Path::new(golden), Path::new(out)),
        _ => {
            eprintln!("usage: candle-check GOLDEN_DIR OUT_DIR");
            std::process::exit(2);
        }
    };
    std::fs::create_dir_all(out).expect("output directory");
    let mut files: Vec<_> = std::fs::read_dir(golden)
        .expect("golden directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    let (mut loaded, mut failed) = (0, 0);
    for path in &files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        println!("  {name}");
        match check_golden(path, out) {
            Ok(true) => loaded += 1,
            Ok(false) => {}
            Err(e) => {
                println!("    FAILED: {e}");
                failed += 1;
            }
        }
    }
    match round_trip(out) {
        Ok(()) => println!("  round trip through save, load and save_safetensors: ok"),
        Err(e) => {
            println!("  round trip FAILED: {e}");
            failed += 1;
        }
    }
    println!(
        "candle read {loaded} of {} golden files exactly; {failed} failures",
        files.len()
    );
    if failed > 0 || loaded < 5 {
        std::process::exit(1);
    }
}
