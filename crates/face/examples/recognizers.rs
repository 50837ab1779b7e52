//! Recognizers side by side on `identities/`: thresholds at FAR 1e-3 / 1e-4, TAR there, rank-1,
//! and time per face at batch 1 and batch 8 (interleaved rounds).
//!
//! `cargo run --release -p rollcall-face --example recognizers -- [--extra extra.toml] [ids...]`
//! (`--extra`: more `[[model]]` entries appended to models/manifest.toml, to measure a model
//! before it is listed.) Uses ROLLCALL_MODEL_DIR, ROLLCALL_FACES_DIR and ORT_DYLIB_PATH.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use rollcall_face::manifest::{Manifest, Role, verify_model_file};
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
    for (ri, rec) in recognizers.iter().enumerate() {
        let crops: Vec<RgbImage> = samples.iter().map(|s| s.2[ri].clone()).collect();
        let emb = rec.embed_aligned(&crops)?;
        let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
        for a in 0..emb.len() {
            for b in a + 1..emb.len() {
                let s = cosine(&emb[a], &emb[b]);
                if samples[a].0 == samples[b].0 {
                    genuine.push(s);
                } else {
                    impostor.push(s);
                }
            }
        }
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
    println!(
        "| recognizer | TAR @ FAR 1e-3 | TAR @ FAR 1e-4 | rank-1 | rank-1 above the 1e-3 \
         threshold | cosine threshold at FAR 1e-3 / 1e-4 | ms/face batch 1 / batch 8 (median of 5) |"
    );
    Ok(())
}
