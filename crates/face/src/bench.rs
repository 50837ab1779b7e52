//! Benchmark of the pipeline stages on a real portrait and composed classroom scenes; the
//! service exposes it as `rollcall bench`. Not a test: timings depend on the machine.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageFormat};

use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::error::FaceError;
use crate::matching::RosterItem;
use crate::synth::{FaceSource, SceneSpec, compose, identities};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Engine configuration (its `threads` is overridden by `threads` below).
    pub engine: EngineConfig,
    /// Folder with `identities/` (real portraits used for the scenes).
    pub faces_dir: PathBuf,
    /// Thread counts to compare.
    pub threads: Vec<usize>,
    /// Scene sizes.
    pub sizes: Vec<(u32, u32)>,
    /// Face counts per scene.
    pub face_counts: Vec<usize>,
    /// Runs per case; the median is reported.
    pub repeats: usize,
    /// When set, every composed scene is also written there as `scene_<w>x<h>_<n>.jpg`, so
    /// that other pipelines (scripts/original_stack_bench.sh) can be timed on the same photos.
    pub save_scenes: Option<PathBuf>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            faces_dir: std::env::var_os("ROLLCALL_FACES_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("../shared/faces")),
            threads: vec![1, 2],
            sizes: vec![(4000, 3000), (1920, 1080)],
            face_counts: vec![10, 30, 60],
            repeats: 3,
            save_scenes: None,
        }
    }
}

struct Case {
    name: String,
    faces: usize,
    jpeg: Vec<u8>,
}

#[derive(Default, Clone, Copy)]
struct Timing {
    decode: Duration,
    detect: Duration,
    embed: Duration,
    matching: Duration,
    detected: usize,
}

impl Timing {
    fn total(&self) -> Duration {
        self.decode + self.detect + self.embed + self.matching
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident memory of this process (VmHWM), in MiB, when /proc tells it.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn run_once(engine: &Engine, bytes: &[u8], roster: &[RosterItem<'_>]) -> Result<Timing, FaceError> {
    let t0 = Instant::now();
    let image = engine.decode(bytes)?;
    let t1 = Instant::now();
    let faces = engine.detect(&image)?;
    let t2 = Instant::now();
    let embeddings = engine.embed(&image, &faces)?;
    let t3 = Instant::now();
    let matches = engine.match_faces(&embeddings, roster);
    let t4 = Instant::now();
    debug_assert_eq!(matches.len(), faces.len());
    Ok(Timing {
        decode: t1 - t0,
        detect: t2 - t1,
        embed: t3 - t2,
        matching: t4 - t3,
        detected: faces.len(),
    })
}

fn median(mut runs: Vec<Timing>) -> Timing {
    runs.sort_by_key(Timing::total);
    runs.get(runs.len() / 2).copied().unwrap_or_default()
}

/// Runs the benchmark and returns a table (milliseconds, median of `repeats`).
pub fn run(opts: &BenchOptions) -> Result<String, FaceError> {
    let setup = Engine::load(&opts.engine)?;
    let people = identities(&opts.faces_dir.join("identities")).map_err(|e| {
        FaceError::Config(format!(
            "cannot read {}/identities: {e} (set ROLLCALL_FACES_DIR)",
            opts.faces_dir.display()
        ))
    })?;
    let mut sources = Vec::new();
    let mut portrait = None;
    for (person, photos) in &people {
        let Some(photo) = photos.first() else {
            continue;
        };
        let bytes = std::fs::read(photo)
            .map_err(|e| FaceError::Config(format!("cannot read {}: {e}", photo.display())))?;
        if portrait.is_none() {
            portrait = Some(bytes.clone());
        }
        if let Some(src) = FaceSource::load(&setup, person, &bytes)? {
            sources.push(src);
        }
    }
    let portrait = portrait.ok_or_else(|| FaceError::Config("identities/ has no photos".into()))?;
    // The roster: one embedding per person.
    let mut roster_embeddings = Vec::new();
    for src in &sources {
        if let Some(e) = setup
            .embed(&src.image, std::slice::from_ref(&src.face))?
            .into_iter()
            .next()
        {
            roster_embeddings.push(e);
        }
    }
    let roster: Vec<RosterItem<'_>> = roster_embeddings
        .iter()
        .enumerate()
        .map(|(key, e)| RosterItem { key, embedding: e })
        .collect();
    drop(setup);

    let mut cases = vec![Case {
        name: "portrait".into(),
        faces: 1,
        jpeg: portrait,
    }];
    for &(w, h) in &opts.sizes {
        for &n in &opts.face_counts {
            let scene = compose(
                &sources,
                &SceneSpec {
                    width: w,
                    height: h,
                    faces: n,
                    ..SceneSpec::default()
                },
            )?;
            let mut jpeg = Vec::new();
            DynamicImage::ImageRgb8(scene.image)
                .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
                .map_err(FaceError::runtime)?;
            if let Some(dir) = &opts.save_scenes {
                let path = dir.join(format!("scene_{w}x{h}_{n}.jpg"));
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, &jpeg))
                    .map_err(|e| {
                        FaceError::Config(format!("cannot write {}: {e}", path.display()))
                    })?;
            }
            cases.push(Case {
                name: format!("{w}x{h}"),
                faces: scene.faces.len(),
                jpeg,
            });
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>7} {:>6} {:>8} {:>9} {:>9} {:>12} {:>8} {:>9}",
        "scene", "threads", "faces", "found", "decode", "detect", "align+embed", "match", "total"
    );
    for &threads in &opts.threads {
        let engine = Engine::load(&EngineConfig {
            threads: Some(threads),
            ..opts.engine.clone()
        })?;
        for case in &cases {
            run_once(&engine, &case.jpeg, &roster)?; // warm-up
            let runs = (0..opts.repeats.max(1))
                .map(|_| run_once(&engine, &case.jpeg, &roster))
                .collect::<Result<Vec<_>, _>>()?;
            let t = median(runs);
            let _ = writeln!(
                out,
                "{:<12} {:>7} {:>6} {:>8} {:>9.1} {:>9.1} {:>12.1} {:>8.2} {:>9.1}",
                case.name,
                threads,
                case.faces,
                t.detected,
                ms(t.decode),
                ms(t.detect),
                ms(t.embed),
                ms(t.matching),
                ms(t.total())
            );
        }
    }
    let _ = writeln!(
        out,
        "times in ms (median of {}); detector {}, recognizer {}, roster {} people; peak memory (VmHWM) {}",
        opts.repeats.max(1),
        opts.engine.detector,
        opts.engine.recognizer,
        roster.len(),
        peak_memory_mib()
            .map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "n/a".into())
    );
    Ok(out)
}
