//! Prints what the enrolment quality gate measures on every labelled photo, to choose the
//! thresholds: `cargo run --release -p rollcall-face --example measure [faces_dir]`.

use std::path::{Path, PathBuf};

use rollcall_face::{Engine, EngineConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, input, output] = args.as_slice()
        && flag == "--png"
    {
        // Debug aid: write a photo (any format, EXIF applied) as a PNG of at most 480 px.
        let image = rollcall_face::decode(&std::fs::read(input)?, &Default::default())?;
        let scale = (480.0 / f64::from(image.width().max(image.height()))).min(1.0);
        let (w, h) = (
            f64::from(image.width()) * scale,
            f64::from(image.height()) * scale,
        );
        image::imageops::thumbnail(&image, (w as u32).max(1), (h as u32).max(1)).save(output)?;
        return Ok(());
    }
    let faces = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("ROLLCALL_FACES_DIR").map(PathBuf::from))
        .unwrap_or_else(|| root.join("../shared/faces"));
    let config = EngineConfig {
        model_dir: std::env::var_os("ROLLCALL_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("../shared/models")),
        manifest_path: std::env::var_os("ROLLCALL_MANIFEST").map(PathBuf::from),
        ..EngineConfig::default()
    };
    let engine = Engine::load(&config)?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let labels = std::fs::read_to_string(faces.join("hard/labels.tsv"))?;
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let (Some(file), Some(verdict)) = (cols.first(), cols.get(3)) {
            let tag = if verdict.starts_with("accept") {
                "hard+"
            } else {
                "hard-"
            };
            files.push((tag.to_owned(), faces.join("hard").join(file)));
        }
    }
    for (person, photos) in rollcall_face::synth::identities(&faces.join("identities"))? {
        for p in photos {
            files.push((format!("id:{person}"), p));
        }
    }
    println!(
        "{:<28} {:<44} {:>3} {:>6} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>5} {:>5} {:>5}  issues",
        "tag",
        "file",
        "n",
        "width",
        "cut",
        "yaw",
        "pitch",
        "roll",
        "eyerl",
        "lmyaw",
        "sharp",
        "light",
        "scene",
        "score"
    );
    for (tag, path) in files {
        let name = path
            .strip_prefix(&faces)
            .unwrap_or(&path)
            .display()
            .to_string();
        let bytes = std::fs::read(&path)?;
        let image = match engine.decode(&bytes) {
            Ok(i) => i,
            Err(e) => {
                println!("{tag:<28} {name:<44} decode error: {e}");
                continue;
            }
        };
        let report = engine.assess(&image)?.report;
        let faces = engine.detect(&image)?;
        let largest = faces.iter().map(|f| f.bbox.w).fold(0.0f32, f32::max);
        let others: Vec<String> = faces
            .iter()
            .filter(|f| f.bbox.w < largest)
            .map(|f| {
                format!(
                    "{:.2}/{:.2}/{:.2}",
                    f.bbox.w / largest,
                    f.score,
                    rollcall_face::quality::cut_off(f, image.width(), image.height())
                )
            })
            .collect();
        let m = report.metrics;
        let issues: Vec<&str> = report.issues.iter().map(|i| i.code.as_str()).collect();
        println!(
            "{:<28} {:<44} {:>3} {:>6.0} {:>5.2} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>6.1} {:>7.0} {:>5.0} {:>5.0} {:>5.2}  {}",
            tag,
            name,
            m.significant_faces,
            m.face_width,
            m.cut_off,
            m.pose.yaw,
            m.pose.pitch,
            m.pose.roll,
            m.eye_roll,
            m.landmark_yaw,
            m.sharpness,
            m.brightness,
            m.image_brightness,
            m.score,
            issues.join(",")
        );
        if !others.is_empty() {
            println!("    other faces (ratio/score/cut): {}", others.join(" "));
        }
    }
    Ok(())
}
