//! Identification on identities/: enrol the first photo of each person, recognise every other
//! photo. A probe photo in which no face is found counts as a miss: the denominator is the
//! number of probe photos, fixed by the pinned photo set, not by what the detector finds.
//!
//! The floors are the figures measured on the pinned photo set (`MANIFEST.tsv`, checked by
//! `common::faces_dir`) with the default models, less one probe's worth (one pair's worth for
//! the false accepts). The engine is deterministic: two runs on the same machine give the
//! same counts (run-to-run noise 0); the one-probe allowance covers floating-point
//! differences between CPUs (a score sitting on a threshold).

use crate::common;

use rollcall_face::cosine;

/// People in identities/ (one gallery photo each).
const PEOPLE: usize = 51;
/// Probe photos: every photo but the gallery one.
const PROBES: usize = 317;
/// Measured: probes whose best gallery match is the right person.
const RANK1_MEASURED: usize = 316;
/// Measured: ... with a similarity at or above the review (suggestion) threshold.
const ABOVE_REVIEW_MEASURED: usize = 306;
/// Measured: ... at or above the marking threshold (attendance marks present).
const ABOVE_MARKING_MEASURED: usize = 295;
/// Measured: impostor pairs (probe, someone else's gallery photo) at or above the review
/// threshold, out of PROBES x (PEOPLE - 1).
const FALSE_ACCEPTS_REVIEW_MEASURED: usize = 4;
/// Measured: ... at or above the marking threshold.
const FALSE_ACCEPTS_MARKING_MEASURED: usize = 2;

/// The largest face's embedding of a photo (`None` when no face is found).
fn largest_face(engine: &rollcall_face::Engine, photo: &std::path::Path) -> Option<Vec<f32>> {
    let bytes = std::fs::read(photo).unwrap_or_else(|e| panic!("read {}: {e}", photo.display()));
    let analysis = engine
        .analyze(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", photo.display()));
    analysis
        .faces
        .into_iter()
        .max_by(|a, b| (a.bbox.w * a.bbox.h).total_cmp(&(b.bbox.w * b.bbox.h)))
        .map(|f| f.embedding)
}

#[test]
fn rank1_and_false_accepts_on_identities() {
    let engine = common::engine();
    let mut gallery: Vec<(String, Vec<f32>)> = Vec::new();
    // (person, photo, embedding of its largest face if any)
    let mut probes: Vec<(String, String, Option<Vec<f32>>)> = Vec::new();
    for (person, photos) in common::identities() {
        let Some((first, rest)) = photos.split_first() else {
            panic!("{person} has no photo");
        };
        let Some(enrolled) = largest_face(engine, first) else {
            panic!("no face in the gallery photo {}", first.display());
        };
        gallery.push((person.clone(), enrolled));
        for photo in rest {
            let name = photo.display().to_string();
            probes.push((person.clone(), name, largest_face(engine, photo)));
        }
    }
    // The recognizer's FAR 1e-3 point (the review threshold, the suggestion floor) and the
    // stricter threshold at which attendance marks present.
    let params = engine.match_params();
    let (mut rank1, mut missed) = (0usize, Vec::new());
    let mut best_of_rank1: Vec<f32> = Vec::new();
    let mut impostors: Vec<f32> = Vec::new();
    for (person, name, emb) in &probes {
        let Some(emb) = emb else {
            missed.push(format!("{name}: no face"));
            continue;
        };
        let mut best = (f32::MIN, "");
        for (g, ge) in &gallery {
            let s = cosine(emb, ge);
            if s > best.0 {
                best = (s, g.as_str());
            }
            if g != person {
                impostors.push(s);
            }
        }
        if best.1 == person {
            rank1 += 1;
            best_of_rank1.push(best.0);
        } else {
            missed.push(format!("{name}: best match {} ({:.3})", best.1, best.0));
        }
    }
    let n = probes.len();
    let at = |threshold: f32| {
        let above = best_of_rank1.iter().filter(|&&s| s >= threshold).count();
        let false_accepts = impostors.iter().filter(|&&s| s >= threshold).count();
        eprintln!(
            "  threshold {threshold:.3}: rank-1 above it {above}/{n} ({:.3}), false accepts \
             {false_accepts}/{} pairs ({:.1e})",
            above as f64 / n as f64,
            impostors.len(),
            false_accepts as f64 / impostors.len().max(1) as f64
        );
        (above, false_accepts)
    };
    eprintln!(
        "recognizer {}: {} people, {n} probes, rank-1 {rank1}/{n} ({:.3}); misses: {missed:?}",
        engine.recognizer_id(),
        gallery.len(),
        rank1 as f64 / n as f64,
    );
    let (above_review, fa_review) = at(params.review_threshold);
    let (above_marking, fa_marking) = at(params.threshold);
    assert_eq!(gallery.len(), PEOPLE, "people in identities/");
    assert_eq!(n, PROBES, "probe photos in identities/");
    let mut failures = Vec::new();
    let mut floor = |what: &str, got: usize, measured: usize| {
        if got + 1 < measured {
            failures.push(format!(
                "{what}: {got}/{n}, measured {measured}/{n} (floor {})",
                measured - 1
            ));
        }
    };
    floor("rank-1", rank1, RANK1_MEASURED);
    floor(
        "rank-1 above the review threshold",
        above_review,
        ABOVE_REVIEW_MEASURED,
    );
    floor(
        "rank-1 above the marking threshold",
        above_marking,
        ABOVE_MARKING_MEASURED,
    );
    let mut ceiling = |what: &str, got: usize, measured: usize| {
        if got > measured + 1 {
            failures.push(format!(
                "{what}: {got} impostor pairs, measured {measured} (limit {})",
                measured + 1
            ));
        }
    };
    ceiling(
        "false accepts above the review threshold",
        fa_review,
        FALSE_ACCEPTS_REVIEW_MEASURED,
    );
    ceiling(
        "false accepts above the marking threshold",
        fa_marking,
        FALSE_ACCEPTS_MARKING_MEASURED,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// fr_feature (a batch-1 graph) embeds a photo's faces on one single-threaded session per
/// thread, the faces split between them: the embeddings must be those of one session, in
/// the faces' order (three lanes over the 6 faces of friends_cast_steps: uneven parts).
#[test]
fn embedding_lanes_keep_every_face_in_order() {
    let load = |threads| {
        rollcall_face::Engine::load(&rollcall_face::EngineConfig {
            threads: Some(threads),
            ..common::config()
        })
        .unwrap()
    };
    let (one, three) = (load(1), load(3));
    let image = one
        .decode(&common::read("groups/friends_cast_steps.jpg"))
        .unwrap();
    let faces = one.detect(&image).unwrap();
    assert!(faces.len() >= 4, "{} faces", faces.len());
    let a = one.embed(&image, &faces).unwrap();
    let b = three.embed(&image, &faces).unwrap();
    assert_eq!(a.len(), faces.len());
    assert_eq!(b.len(), faces.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let same = cosine(x, y);
        assert!(
            same > 0.9999,
            "face {i}: cosine {same} between one session and three lanes"
        );
        for (j, z) in a.iter().enumerate() {
            if j != i {
                assert!(cosine(y, z) < 0.99, "face {i} got face {j}'s embedding");
            }
        }
    }
}
