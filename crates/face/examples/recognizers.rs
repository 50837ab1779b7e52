//! Recognizers side by side on `identities/`: thresholds at FAR 1e-3 / 1e-4, TAR there, rank-1,
//! and time per face at batch 1 and batch 8 (interleaved rounds).
//!
//! `cargo run --release -p rollcall-face --example recognizers -- [--extra extra.toml]
//! [--swap-color] [ids...]`
//! (`--extra`: more `[[model]]` entries appended to models/manifest.toml, to measure a model
//! before it is listed; `--swap-color`: each recognizer also fed the other channel order, with
//! a bootstrap over people of the TAR difference at FAR 1e-3 between the two orders.) Uses
//! ROLLCALL_MODEL_DIR, ROLLCALL_FACES_DIR and ORT_DYLIB_PATH.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use rollcall_face::manifest::{ColorOrder, Manifest, Role, verify_model_file};
use rollcall_face::quality::primary_face;
use rollcall_face::synth::identities;
use rollcall_face::{Engine, EngineConfig};
use rollcall_face::{Recognizer, cosine};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(default))
    };
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut text = std::fs::read_to_string(root.join("models/manifest.toml"))?;
    if let Some(i) = args.iter().position(|a| a == "--extra") {
        let path = args.get(i + 1).ok_or("--extra needs a file")?.clone();
        text.push('\n');
        text.push_str(&std::fs::read_to_string(&path)?);
        args.drain(i..i + 2);
    }
    let swap_color = match args.iter().position(|a| a == "--swap-color") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let ids = if args.is_empty() {
        vec!["faceplugin_fr_feature_512".to_owned()]
    } else {
        args
    };
    let threads = 2;
    let manifest = Manifest::from_toml(&text, "manifest")?;
    let config = EngineConfig {
        model_dir: env_dir("ROLLCALL_MODEL_DIR", "../shared/models"),
        threads: Some(threads),
        ..EngineConfig::default()
    };
    let engine = Engine::load(&config)?;
    let faces_dir = env_dir("ROLLCALL_FACES_DIR", "../shared/faces");
    let mut recognizers = Vec::new();
    for id in &ids {
        let spec = manifest.model(id, Role::Recognizer)?;
        let path = verify_model_file(&config.model_dir, spec)?;
        recognizers.push(Recognizer::load(spec, &path, threads)?);
        if swap_color {
            let mut swapped = spec.clone();
            swapped.color = match spec.color {
                ColorOrder::Rgb => ColorOrder::Bgr,
                ColorOrder::Bgr => ColorOrder::Rgb,
            };
            swapped.id = format!("{id} ({:?} swapped to {:?})", spec.color, swapped.color);
            recognizers.push(Recognizer::load(&swapped, &path, threads)?);
        }
    }
    // (person, index within the person, aligned crop per recognizer)
    let mut samples: Vec<(String, usize, Vec<RgbImage>)> = Vec::new();
    for (person, photos) in identities(&faces_dir.join("identities"))? {
        for (i, photo) in photos.iter().enumerate() {
            let image = engine.decode(&std::fs::read(photo)?)?;
            let faces = engine.detect(&image)?;
            let Some(face) = primary_face(&faces).and_then(|i| faces.get(i)) else {
                continue;
            };
            let crops = recognizers
                .iter()
                .map(|r| r.align(&image, face))
                .collect::<Result<Vec<_>, _>>()?;
            samples.push((person.clone(), i, crops));
        }
    }
    println!(
        "{} photos with a face; {threads} threads; load average {}",
        samples.len(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    // Timing: interleaved rounds, batch 1 and batch 8, on the first 64 crops.
    let n = samples.len().min(64);
    let mut times = vec![(Vec::new(), Vec::new()); recognizers.len()];
    for _round in 0..5 {
        for (ri, rec) in recognizers.iter().enumerate() {
            let crops: Vec<RgbImage> = samples[..n].iter().map(|s| s.2[ri].clone()).collect();
            let t = Instant::now();
            for c in &crops {
                rec.embed_aligned(std::slice::from_ref(c))?;
            }
            times[ri].0.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
            let t = Instant::now();
            for chunk in crops.chunks(8) {
                rec.embed_aligned(chunk)?;
            }
            times[ri].1.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
        }
    }
    // Per recognizer: (person of a, person of b, score) of every pair, for the bootstrap.
    let mut all_pairs: Vec<Vec<(usize, usize, f32)>> = Vec::new();
    let people: Vec<&str> = {
        let mut p: Vec<&str> = samples.iter().map(|s| s.0.as_str()).collect();
        p.dedup();
        p
    };
    let person_of = |i: usize| {
        people
            .iter()
            .position(|p| *p == samples[i].0)
            .unwrap_or(usize::MAX)
    };
    for (ri, rec) in recognizers.iter().enumerate() {
        let crops: Vec<RgbImage> = samples.iter().map(|s| s.2[ri].clone()).collect();
        let emb = rec.embed_aligned(&crops)?;
        let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
        let mut pairs = Vec::new();
        for a in 0..emb.len() {
            for b in a + 1..emb.len() {
                let s = cosine(&emb[a], &emb[b]);
                pairs.push((person_of(a), person_of(b), s));
                if samples[a].0 == samples[b].0 {
                    genuine.push(s);
                } else {
                    impostor.push(s);
                }
            }
        }
        all_pairs.push(pairs);
        impostor.sort_by(|a, b| b.total_cmp(a));
        let threshold = |far: f64| {
            let k = ((impostor.len() as f64 * far).floor() as usize).min(impostor.len() - 1);
            // The lowest threshold with at most `far` impostors at or above it.
            impostor[k] + 1e-6
        };
        let tar =
            |t: f32| genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len() as f64;
        // Rank-1: the first photo of each person enrolled.
        let gallery: Vec<usize> = (0..samples.len()).filter(|&i| samples[i].1 == 0).collect();
        let (mut probes, mut right, mut right_above) = (0, 0, 0);
        let t3 = threshold(1e-3);
        for p in (0..samples.len()).filter(|&i| samples[i].1 != 0) {
            probes += 1;
            let best = gallery
                .iter()
                .map(|&g| (cosine(&emb[p], &emb[g]), g))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((s, g)) = best
                && samples[g].0 == samples[p].0
            {
                right += 1;
                if s >= t3 {
                    right_above += 1;
                }
            }
        }
        let mut b1 = times[ri].0.clone();
        let mut b8 = times[ri].1.clone();
        b1.sort_by(f64::total_cmp);
        b8.sort_by(f64::total_cmp);
        let t4 = threshold(1e-4);
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {t3:.3} / {t4:.3} | {:.1} / {:.1} |",
            rec.id(),
            tar(t3),
            tar(t4),
            right as f64 / probes as f64,
            right_above as f64 / probes as f64,
            b1[b1.len() / 2],
            b8[b8.len() / 2],
        );
        println!(
            "   ({} genuine, {} impostor pairs, {probes} probes)",
            genuine.len(),
            impostor.len()
        );
    }
    if swap_color {
        for pair in all_pairs.chunks(2) {
            if let [a, b] = pair {
                bootstrap_difference(a, b, people.len());
            }
        }
    }
    println!(
        "| recognizer | TAR @ FAR 1e-3 | TAR @ FAR 1e-4 | rank-1 | rank-1 above the 1e-3 \
         threshold | cosine threshold at FAR 1e-3 / 1e-4 | ms/face batch 1 / batch 8 (median of 5) |"
    );
    Ok(())
}

/// TAR at FAR `far` of (person a, person b, score) pairs, each pair weighted by how many times
/// its people were drawn.
fn tar_at(pairs: &[(usize, usize, f32)], weight: &[u32], far: f64) -> f64 {
    let w = |p: usize| f64::from(weight.get(p).copied().unwrap_or(0));
    let mut impostor: Vec<(f32, f64)> = Vec::new();
    let mut genuine: Vec<(f32, f64)> = Vec::new();
    for &(a, b, s) in pairs {
        if a == b {
            genuine.push((s, w(a)));
        } else {
            impostor.push((s, w(a) * w(b)));
        }
    }
    impostor.sort_by(|x, y| y.0.total_cmp(&x.0));
    let total: f64 = impostor.iter().map(|x| x.1).sum();
    let mut above = 0.0;
    let mut threshold = f32::INFINITY;
    for &(s, wt) in &impostor {
        if above + wt > far * total {
            threshold = s.next_up();
            break;
        }
        above += wt;
        threshold = s;
    }
    let g_total: f64 = genuine.iter().map(|x| x.1).sum();
    genuine
        .iter()
        .filter(|x| x.0 >= threshold)
        .map(|x| x.1)
        .sum::<f64>()
        / g_total.max(f64::MIN_POSITIVE)
}

/// Bootstrap over people (1000 resamples, a fixed seed) of the TAR difference b - a at FAR
/// 1e-3 and 1e-4: the observed difference and a 95 % interval.
fn bootstrap_difference(a: &[(usize, usize, f32)], b: &[(usize, usize, f32)], people: usize) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let ones = vec![1u32; people];
    for far in [1e-3, 1e-4] {
        let observed = tar_at(b, &ones, far) - tar_at(a, &ones, far);
        let mut diffs: Vec<f64> = (0..1000)
            .map(|_| {
                let mut weight = vec![0u32; people];
                for _ in 0..people {
                    weight[(next() % people as u64) as usize] += 1;
                }
                tar_at(b, &weight, far) - tar_at(a, &weight, far)
            })
            .collect();
        diffs.sort_by(f64::total_cmp);
        println!(
            "   swapped minus manifest order, TAR @ FAR {far:.0e}: {observed:+.4} (95 % bootstrap \
             over people {:+.4} .. {:+.4})",
            diffs[25], diffs[974]
        );
    }
}
