//! Benchmark of the pipeline stages on a real portrait and composed classroom scenes; the
//! service exposes it as `rollcall bench`. Not a test: timings depend on the machine.

use std::fmt::Write as _;
use std::io::Cursor;
use std::path::{Path, PathBuf};
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
    /// File name when saved.
    file: String,
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

/// The photos of a benchmark: a real portrait and the composed scenes, as JPEG bytes, with
/// the roster (one embedding per person) to match against.
struct Prepared {
    cases: Vec<Case>,
    roster: Vec<Vec<f32>>,
}

/// Composes the scenes (and writes them to `save_scenes` when set).
fn prepare(opts: &BenchOptions) -> Result<Prepared, FaceError> {
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
    drop(setup);

    let mut cases = vec![Case {
        name: "portrait".into(),
        file: "portrait.jpg".into(),
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
            cases.push(Case {
                name: format!("{w}x{h}"),
                file: format!("scene_{w}x{h}_{n}.jpg"),
                faces: scene.faces.len(),
                jpeg,
            });
        }
    }
    if let Some(dir) = &opts.save_scenes {
        save(&cases, dir)?;
    }
    Ok(Prepared {
        cases,
        roster: roster_embeddings,
    })
}

fn save(cases: &[Case], dir: &Path) -> Result<(), FaceError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FaceError::Config(format!("cannot create {}: {e}", dir.display())))?;
    for case in cases {
        let path = dir.join(&case.file);
        std::fs::write(&path, &case.jpeg)
            .map_err(|e| FaceError::Config(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}

fn roster_items(roster: &[Vec<f32>]) -> Vec<RosterItem<'_>> {
    roster
        .iter()
        .enumerate()
        .map(|(key, e)| RosterItem { key, embedding: e })
        .collect()
}

/// Runs the benchmark and returns a table (milliseconds, median of `repeats`).
pub fn run(opts: &BenchOptions) -> Result<String, FaceError> {
    let Prepared { cases, roster } = prepare(opts)?;
    let roster = roster_items(&roster);
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

/// What [`compare_original`] runs.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Scenes and engine (`threads`: the first entry is used for both pipelines, default 2).
    pub bench: BenchOptions,
    /// `scripts/original_stack_bench.sh`.
    pub script: PathBuf,
    /// Rounds; each times Rollcall and then the original on every photo.
    pub rounds: usize,
    /// Timed runs per photo and round (the round's median is kept).
    pub runs: usize,
    /// The original's detector input size.
    pub original_det_size: (u32, u32),
}

/// Reads `/proc/loadavg`'s 1-minute figure.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The CPU's model name from `/proc/cpuinfo`, and the number of CPUs.
pub fn cpu_name() -> String {
    let name = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    format!(
        "{name}, {} CPUs",
        std::thread::available_parallelism().map_or(1, usize::from)
    )
}

/// Resets this process's peak resident memory (VmHWM), so that it measures what follows.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[derive(serde::Deserialize)]
struct OriginalRow {
    path: PathBuf,
    faces: usize,
    total: f64,
}

fn median_f64(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Runs Rollcall (in this process) and the original Python stack (`opts.script`, a child
/// process) on the same saved photos, interleaved: every round times each pipeline on every
/// photo. Returns a markdown table of the medians of the per-round medians: faces found, end
/// to end time (decode, detect, align, embed; Rollcall also matches against a roster) and
/// their ratio, with the load average of each round and Rollcall's peak memory.
pub fn compare_original(opts: &CompareOptions) -> Result<String, FaceError> {
    let threads = opts.bench.threads.first().copied().unwrap_or(2).max(1);
    let dir = opts.bench.save_scenes.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("rollcall-compare-{}", std::process::id()))
    });
    let Prepared { cases, roster } = prepare(&opts.bench)?;
    save(&cases, &dir)?;
    let roster = roster_items(&roster);
    let engine = Engine::load(&EngineConfig {
        threads: Some(threads),
        ..opts.bench.engine.clone()
    })?;
    let json = dir.join("original.json");
    let runs = opts.runs.max(1);
    let (dw, dh) = opts.original_det_size;
    // Per case: per-round medians (ms) and faces found.
    let mut ours: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut theirs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut ours_found = vec![0usize; cases.len()];
    let mut theirs_found = vec![0usize; cases.len()];
    let mut loads = Vec::new();
    for case in &cases {
        run_once(&engine, &case.jpeg, &roster)?; // warm-up
    }
    reset_peak_memory();
    for round in 0..opts.rounds.max(1) {
        loads.push(load_average().unwrap_or(f64::NAN));
        for (i, case) in cases.iter().enumerate() {
            let mut times = Vec::with_capacity(runs);
            for _ in 0..runs {
                let t = run_once(&engine, &case.jpeg, &roster)?;
                times.push(ms(t.total()));
                ours_found[i] = t.detected;
            }
            ours[i].push(median_f64(&mut times));
        }
        let mut command = std::process::Command::new(&opts.script);
        command
            .arg("--portrait")
            .arg(dir.join("portrait.jpg"))
            .arg("--images")
            .args(cases.iter().skip(1).map(|c| dir.join(&c.file)))
            .args(["--det-size", &format!("{dw}x{dh}")])
            .args(["--threads", &threads.to_string()])
            .args(["--runs", &runs.to_string(), "--warmup", "1"])
            .arg("--json")
            .arg(&json)
            .env("ROLLCALL_MODEL_DIR", &opts.bench.engine.model_dir)
            .stdout(std::process::Stdio::null());
        let status = command
            .status()
            .map_err(|e| FaceError::Config(format!("cannot run {}: {e}", opts.script.display())))?;
        if !status.success() {
            return Err(FaceError::Config(format!(
                "{} failed ({status}) in round {}",
                opts.script.display(),
                round + 1
            )));
        }
        let text = std::fs::read_to_string(&json)
            .map_err(|e| FaceError::Config(format!("cannot read {}: {e}", json.display())))?;
        let rows: Vec<OriginalRow> = serde_json::from_str(&text).map_err(|e| {
            FaceError::Config(format!("unexpected output in {}: {e}", json.display()))
        })?;
        for (i, case) in cases.iter().enumerate() {
            let row = rows
                .iter()
                .find(|r| r.path.file_name() == Some(std::ffi::OsStr::new(&case.file)))
                .ok_or_else(|| {
                    FaceError::Config(format!("{} has no row for {}", json.display(), case.file))
                })?;
            theirs[i].push(row.total);
            theirs_found[i] = row.faces;
        }
    }
    let peak = peak_memory_mib();
    let enrolment = enrolment_times(&engine, &opts.bench.faces_dir)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| photo (true faces) | original {dw}x{dh}: ms (faces) | Rollcall: ms (faces) | ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (i, case) in cases.iter().enumerate() {
        let (a, b) = (median_f64(&mut theirs[i]), median_f64(&mut ours[i]));
        let _ = writeln!(
            out,
            "| {} ({}) | {a:.0} ({}) | {b:.0} ({}) | {:.2}x |",
            case.name,
            case.faces,
            theirs_found[i],
            ours_found[i],
            b / a
        );
    }
    let _ = writeln!(
        out,
        "\n{} rounds, each {runs} timed runs per photo and pipeline, interleaved; medians of the \
         per-round medians; end to end from the JPEG bytes; {threads} threads; {}. Load average \
         at each round: {}. Rollcall: detector {}, recognizer {}, peak memory while timing \
         (VmHWM) {}. Photos in {}.",
        opts.rounds.max(1),
        cpu_name(),
        loads
            .iter()
            .map(|l| format!("{l:.1}"))
            .collect::<Vec<_>>()
            .join(", "),
        opts.bench.engine.detector,
        opts.bench.engine.recognizer,
        peak.map(|m| format!("{m:.0} MiB"))
            .unwrap_or_else(|| "n/a".into()),
        dir.display()
    );
    let _ = writeln!(out, "\n{enrolment}");
    Ok(out)
}

/// Times `Engine::enrol` (decode, detection, gate, embedding) once on the first photo of every
/// person of `identities/`, after the comparison: the median and range, as a sentence.
fn enrolment_times(engine: &Engine, faces_dir: &Path) -> Result<String, FaceError> {
    let people = identities(&faces_dir.join("identities"))
        .map_err(|e| FaceError::Config(format!("cannot read identities/: {e}")))?;
    let mut times = Vec::new();
    let mut accepted = 0usize;
    for photo in people.iter().filter_map(|(_, photos)| photos.first()) {
        let bytes = std::fs::read(photo)
            .map_err(|e| FaceError::Config(format!("cannot read {}: {e}", photo.display())))?;
        let t = Instant::now();
        match engine.enrol(&bytes) {
            Ok(_) => accepted += 1,
            Err(FaceError::Rejected(_)) => {}
            Err(e) => return Err(e),
        }
        times.push(ms(t.elapsed()));
    }
    let n = times.len();
    let median = median_f64(&mut times);
    let (lo, hi) = (
        times.first().copied().unwrap_or(f64::NAN),
        times.last().copied().unwrap_or(f64::NAN),
    );
    Ok(format!(
        "Rollcall enrolment (`Engine::enrol`: decode, detection, quality gate, embedding), the \
         first photo of each of the {n} people of identities/ ({accepted} accepted), once each: \
         median {median:.0} ms, {lo:.0}-{hi:.0} ms."
    ))
}
