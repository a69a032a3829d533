use tensorsafe::{Dtype, SafeTensors, TensorView};
fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().unwrap())
        .unwrap_or(100_000);
    let parts = ["gate_proj", "up_proj", "down_proj"];
    let mut names = Vec::new();
    let mut shapes = Vec::new();
    for i in 0..count {
        names.push(format!(
            "model.layers.{}.mlp.experts.{}.{}.weight",
            i / 384,
            (i / 3) % 128,
            parts[i % 3]
        ));
        shapes.push(vec![2usize, 4]);
    }
    let data = vec![0u8; 64];
    let dts = [Dtype::BF16, Dtype::F32, Dtype::F16, Dtype::U8];
    let views: Vec<TensorView> = (0..count)
        .map(|i| {
            let d = dts[i % 4];
            TensorView::new(d, &shapes[i], &data[..8 * d.size().unwrap()]).unwrap()
        })
        .collect();
    let bytes = tensorsafe::serialize(names.iter().zip(views.iter()), None).unwrap();
    let mut ours = vec![];
    let mut theirs = vec![];
    let mut tot = 0;
    for _ in 0..15 {
        let t = std::time::Instant::now();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        for n in &names {
            tot += st.tensor(n).unwrap().data().len();
        }
        drop(st);
        ours.push(t.elapsed());
        let t = std::time::Instant::now();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        for n in &names {
            tot += st.tensor(n).unwrap().data().len();
        }
        drop(st);
        theirs.push(t.elapsed());
    }
    ours.sort();
    theirs.sort();
    println!(
        "ours {:?} ref {:?} ratio {:.2} ({tot})",
        ours[7],
        theirs[7],
        theirs[7].as_secs_f64() / ours[7].as_secs_f64()
    );
}
