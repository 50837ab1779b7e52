//! Detection options compared on `../shared/faces`: recall and time, interleaved rounds.
//!
//! `cargo run --release -p rollcall-face --example detect_options -- [--rounds N] [--threads T]`
//! (ROLLCALL_MODEL_DIR, ROLLCALL_FACES_DIR, ORT_DYLIB_PATH as for the tests).
//!
//! Scenes are composed from the first photo of every person in `identities/` (ground truth
//! boxes, a face counts as found at IoU >= 0.4); `groups/` photos with a known face count count
//! as found min(detected, expected). Each round runs every option on every photo in turn, so
//! that a busy machine slows all options alike; the median per photo is reported.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::RgbImage;
use rollcall_face::Rect;
use rollcall_face::manifest::{Manifest, Role, verify_model_file};
use rollcall_face::nms;
use rollcall_face::synth::{FaceSource, SceneSpec, compose, identities};
use rollcall_face::{BBox, DetectConfig, DetectedFace, Engine, EngineConfig};
use rollcall_face::{Detector, Pass, plan};

type Error = Box<dyn std::error::Error>;

/// The tiling used before planned detection: whole image + up to 16 tiles of 640x640.
fn legacy_plan(width: u32, height: u32, cfg: &DetectConfig) -> Vec<Pass> {
    let input = (640u32, 640u32);
    let max_tiles = 16usize;
    let (iw, ih) = (f64::from(input.0), f64::from(input.1));
    let (w, h) = (f64::from(width), f64::from(height));
    let pad = f64::from(cfg.pad_fraction.max(0.0));
    let long = w.max(h);
    let padded = long * (1.0 + 2.0 * pad);
    let scale = (iw / padded)
        .min(ih / padded)
        .min((320.0 / padded).max(1.0));
    let (dw, dh) = (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    );
    let margin = 2.0 * pad * long * scale;
    let up32 = |v: f64| ((v / 32.0).ceil().max(1.0) as u32) * 32;
    let canvas = (
        up32(w * scale + margin).min(input.0),
        up32(h * scale + margin).min(input.1),
    );
    let mut passes = vec![Pass {
        src: Rect {
            x: 0.0,
            y: 0.0,
            w,
            h,
        },
        dst: (dw, dh),
        offset: (
            (canvas.0.saturating_sub(dw)) / 2,
            (canvas.1.saturating_sub(dh)) / 2,
        ),
        canvas,
        inner_edges: [false; 4],
        fine: false,
    }];
    let min_face = f64::from(cfg.min_face_px.max(1.0));
    let want = f64::from(cfg.min_face_in_model_px.max(1.0));
    if scale * min_face >= want {
        return passes;
    }
    let comfortable = 24.0;
    let mut tile_scale = (want / min_face).min(1.0);
    loop {
        let largest_missed = comfortable / scale * tile_scale;
        let overlap = (largest_missed * 1.25).clamp(32.0, iw.min(ih) / 2.0);
        let (sw, sh) = (w * tile_scale, h * tile_scale);
        let count = |len: f64, tile: f64| -> usize {
            if len <= tile {
                1
            } else {
                ((len - overlap) / (tile - overlap)).ceil().max(1.0) as usize
            }
        };
        let (nx, ny) = (count(sw, iw), count(sh, ih));
        if nx * ny <= max_tiles || tile_scale * long <= iw.max(ih) {
            let starts = |len: f64, tile: f64, n: usize| -> Vec<f64> {
                if n <= 1 {
                    return vec![0.0];
                }
                let step = (len - tile) / (n - 1) as f64;
                (0..n).map(|i| (i as f64 * step).round()).collect()
            };
            for (yi, &ty) in starts(sh, ih, ny).iter().enumerate() {
                for (xi, &tx) in starts(sw, iw, nx).iter().enumerate() {
                    let tw = iw.min(sw - tx);
                    let th = ih.min(sh - ty);
                    passes.push(Pass {
                        src: Rect {
                            x: tx / tile_scale,
                            y: ty / tile_scale,
                            w: tw / tile_scale,
                            h: th / tile_scale,
                        },
                        dst: (tw.round().max(1.0) as u32, th.round().max(1.0) as u32),
                        offset: (0, 0),
                        canvas: input,
                        inner_edges: [xi > 0, yi > 0, xi + 1 < nx, yi + 1 < ny],
                        fine: true,
                    });
                }
            }
            return passes;
        }
        tile_scale *= 0.9;
    }
}

/// The reverted variant: a medium photo whose padded image at the fine scale costs no more
/// pixels than the coarse and the fine pass together gets that single padded pass instead.
fn single_medium(width: u32, height: u32, passes: Vec<Pass>, cfg: &DetectConfig) -> Vec<Pass> {
    let [coarse, fine] = passes.as_slice() else {
        return passes;
    };
    let (w, h) = (f64::from(width), f64::from(height));
    let s = f64::from(fine.dst.0) / fine.src.w;
    let margin = 2.0 * f64::from(cfg.pad_fraction) * w.max(h) * s;
    let up32 = |v: f64| ((v / 32.0).ceil().max(1.0) as u32) * 32;
    let canvas = (up32(w * s + margin), up32(h * s + margin));
    let area = |c: (u32, u32)| f64::from(c.0) * f64::from(c.1);
    if area(canvas) > area(coarse.canvas) + area(fine.canvas) {
        return passes;
    }
    let dst = (fine.dst.0, fine.dst.1);
    vec![Pass {
        src: fine.src,
        dst,
        offset: ((canvas.0 - dst.0) / 2, (canvas.1 - dst.1) / 2),
        canvas,
        inner_edges: [false; 4],
        fine: true,
    }]
}

struct Photo {
    name: String,
    image: RgbImage,
    /// Ground-truth boxes (scenes) or None (groups: `expected` faces).
    truth: Option<Vec<BBox>>,
    expected: usize,
}

struct Opt<'a> {
    name: &'static str,
    /// Detection config; `legacy` uses the old tiling.
    cfg: DetectConfig,
    legacy: bool,
    /// The reverted single padded pass for medium photos.
    single: bool,
    /// Detector for the fine passes (None: the main one).
    fine: Option<&'a Detector>,
}

fn run(
    opt: &Opt<'_>,
    main: &Detector,
    image: &RgbImage,
) -> Result<(Vec<DetectedFace>, usize), Error> {
    let passes = if opt.legacy {
        legacy_plan(image.width(), image.height(), &opt.cfg)
    } else {
        plan(image.width(), image.height(), (640, 640), true, &opt.cfg)
    };
    let passes = if opt.single {
        single_medium(image.width(), image.height(), passes, &opt.cfg)
    } else {
        passes
    };
    let mut faces = Vec::new();
    for pass in &passes {
        let det = match (pass.fine, opt.fine) {
            (true, Some(f)) => f,
            _ => main,
        };
        faces.extend(det.run_pass(image, pass, opt.cfg.score_threshold)?);
    }
    Ok((nms(faces, opt.cfg.nms_iou), passes.len()))
}

fn found(photo: &Photo, faces: &[DetectedFace]) -> usize {
    match &photo.truth {
        Some(truth) => truth
            .iter()
            .filter(|gt| faces.iter().any(|f| f.bbox.iou(gt) >= 0.4))
            .count(),
        None => faces.len().min(photo.expected),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn arg(name: &str) -> Option<usize> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|n| n.parse().ok())
}

fn main() -> Result<(), Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let env_dir = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(default))
    };
    let rounds = arg("--rounds").unwrap_or(3);
    let threads = arg("--threads").unwrap_or(2);
    let faces_dir = env_dir("ROLLCALL_FACES_DIR", "../shared/faces");
    let config = EngineConfig {
        model_dir: env_dir("ROLLCALL_MODEL_DIR", "../shared/models"),
        threads: Some(threads),
        ..EngineConfig::default()
    };
    let engine = Engine::load(&config)?;
    let manifest = Manifest::embedded()?;
    let spec = manifest.model("scrfd_500m", Role::Detector)?;
    let det500 = Detector::load(spec, &verify_model_file(&config.model_dir, spec)?, threads)?;

    let mut sources = Vec::new();
    for (person, photos) in identities(&faces_dir.join("identities"))? {
        if let Some(photo) = photos.first()
            && let Some(src) = FaceSource::load(&engine, &person, &std::fs::read(photo)?)?
        {
            sources.push(src);
        }
    }
    let mut photos = Vec::new();
    let scenes = [
        (4000, 3000, 10, 40.0, 200.0, 0x5EED),
        (4000, 3000, 30, 40.0, 200.0, 0x5EED),
        (4000, 3000, 60, 40.0, 200.0, 0x5EED),
        (1920, 1080, 60, 40.0, 200.0, 0x5EED),
        (4000, 3000, 60, 32.0, 64.0, 7),
    ];
    for (width, height, faces, min_face, max_face, seed) in scenes {
        let scene = compose(
            &sources,
            &SceneSpec {
                width,
                height,
                faces,
                min_face,
                max_face,
                seed,
            },
        )?;
        photos.push(Photo {
            name: format!("{width}x{height} {faces} ({min_face}-{max_face} px)"),
            expected: scene.faces.len(),
            truth: Some(scene.faces.iter().map(|f| f.bbox).collect()),
            image: scene.image,
        });
    }
    let labels = std::fs::read_to_string(faces_dir.join("groups/labels.tsv"))?;
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(Ok(expected))) =
            (cols.first(), cols.get(2).map(|c| c.parse::<usize>()))
        else {
            continue;
        };
        let image = engine.decode(&std::fs::read(faces_dir.join("groups").join(file))?)?;
        photos.push(Photo {
            name: format!("groups/{file}"),
            image,
            truth: None,
            expected,
        });
    }

    let base = DetectConfig::default();
    let at = |scale: f32| DetectConfig {
        min_face_in_model_px: base.min_face_px * scale,
        ..base
    };
    let opt = |name, cfg, legacy, single, fine| Opt {
        name,
        cfg,
        legacy,
        single,
        fine,
    };
    let options = [
        opt(
            "tiles (before): whole + 12 tiles 640",
            base,
            true,
            false,
            None,
        ),
        opt("planned 0.5 (2.5G), default", base, false, false, None),
        opt(
            "planned 0.5 + single pass for medium photos (reverted)",
            base,
            false,
            true,
            None,
        ),
        opt("planned 0.55 (2.5G)", at(0.55), false, false, None),
        opt(
            "planned 0.5, fine pass 500M",
            base,
            false,
            false,
            Some(&det500),
        ),
        opt("planned 0.4 (2.5G)", at(0.4), false, false, None),
    ];
    // times[option][photo], found[option][photo]
    let mut times = vec![vec![Vec::new(); photos.len()]; options.len()];
    let mut hits = vec![vec![0usize; photos.len()]; options.len()];
    let mut detected = vec![vec![0usize; photos.len()]; options.len()];
    let mut passes = vec![vec![0usize; photos.len()]; options.len()];
    let mut loads = Vec::new();
    for round in 0..=rounds {
        loads.push(load_average());
        for (pi, photo) in photos.iter().enumerate() {
            for (oi, opt) in options.iter().enumerate() {
                let t = Instant::now();
                let (faces, n) = run(opt, engine.detector(), &photo.image)?;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if round > 0 {
                    times[oi][pi].push(ms);
                }
                hits[oi][pi] = found(photo, &faces);
                detected[oi][pi] = faces.len();
                passes[oi][pi] = n;
            }
        }
    }
    println!(
        "detection only, {threads} threads, median of {rounds} interleaved rounds (after one \
         warm-up); load average at each round: {}",
        loads.join(", ")
    );
    for (oi, opt) in options.iter().enumerate() {
        println!("\n## {}", opt.name);
        let (mut g_hit, mut g_exp, mut g_ms, mut g_exact) = (0, 0, 0.0, 0);
        let mut groups = 0;
        for (pi, photo) in photos.iter().enumerate() {
            let ms = median(&mut times[oi][pi]);
            if photo.truth.is_some() {
                println!(
                    "  {:<36} found {:>2}/{:<2} detections {:>2} passes {:>2} {:>7.0} ms",
                    photo.name, hits[oi][pi], photo.expected, detected[oi][pi], passes[oi][pi], ms
                );
            } else {
                groups += 1;
                g_hit += hits[oi][pi];
                g_exp += photo.expected;
                g_ms += ms;
                let exact = if photo.name.contains("dlib_") {
                    detected[oi][pi] >= photo.expected
                } else {
                    detected[oi][pi] == photo.expected
                };
                if exact {
                    g_exact += 1;
                } else {
                    println!(
                        "    {} detections {} expected {}",
                        photo.name, detected[oi][pi], photo.expected
                    );
                }
            }
        }
        println!(
            "  groups: {g_hit}/{g_exp} faces, {g_exact}/{groups} photos with the expected count, \
             {g_ms:.0} ms in all"
        );
    }
    Ok(())
}
