//! A composed classroom: 4000x3000, 36 faces of different people from identities/, 40-200 px
//! wide; detection recall and attendance precision/recall, enrolling other photos of the
//! same people.

mod common;

use std::collections::BTreeSet;

use rollcall_face::synth::{FaceSource, SceneSpec, compose};
use rollcall_face::{FaceError, FaceMatch, RosterItem};

#[test]
fn classroom_scene() {
    let engine = common::engine();
    let mut sources = Vec::new();
    let mut roster: Vec<(String, Vec<f32>)> = Vec::new();
    for (person, photos) in common::identities() {
        // Enrol from the first acceptable photo, put a later photo in the scene.
        let mut enrol_idx = None;
        for (i, photo) in photos.iter().enumerate() {
            match engine.enrol(&std::fs::read(photo).unwrap()) {
                Ok(e) => {
                    roster.push((person.clone(), e.embedding));
                    enrol_idx = Some(i);
                    break;
                }
                Err(FaceError::Rejected(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let Some(ei) = enrol_idx else { continue };
        let scene_photo = photos
            .iter()
            .enumerate()
            .find(|(i, _)| *i != ei)
            .map(|(_, p)| p);
        if let Some(p) = scene_photo
            && let Some(src) =
                FaceSource::load(engine, &person, &std::fs::read(p).unwrap()).unwrap()
        {
            sources.push(src);
        }
    }
    assert!(sources.len() >= 30, "only {} people usable", sources.len());
    let spec = SceneSpec {
        faces: 36.min(sources.len()),
        ..SceneSpec::default()
    };
    let scene = compose(&sources, &spec).unwrap();
    assert!(
        scene.faces.len() >= 30,
        "only {} faces placed",
        scene.faces.len()
    );

    let analysis = engine.analyze_rgb(&scene.image).unwrap();
    let detected = scene
        .faces
        .iter()
        .filter(|gt| analysis.faces.iter().any(|f| f.bbox.iou(&gt.bbox) >= 0.4))
        .count();
    let det_recall = detected as f64 / scene.faces.len() as f64;

    let items: Vec<RosterItem<'_>> = roster
        .iter()
        .enumerate()
        .map(|(key, (_, e))| RosterItem { key, embedding: e })
        .collect();
    let embeddings: Vec<&[f32]> = analysis
        .faces
        .iter()
        .map(|f| f.embedding.as_slice())
        .collect();
    let matches = engine.match_faces(&embeddings, &items);
    let present: BTreeSet<&str> = scene.faces.iter().map(|f| f.person.as_str()).collect();
    let marked: Vec<&str> = matches
        .iter()
        .filter_map(|m| match m {
            FaceMatch::Matched { student, .. } => roster.get(*student).map(|(n, _)| n.as_str()),
            FaceMatch::Unknown { .. } => None,
        })
        .collect();
    let suggested: Vec<&str> = matches
        .iter()
        .filter_map(|m| match m {
            FaceMatch::Unknown {
                suggestion: Some(s),
                ..
            } => roster.get(s.student).map(|(n, _)| n.as_str()),
            _ => None,
        })
        .collect();
    let correct = marked.iter().filter(|n| present.contains(*n)).count();
    let suggested_right = suggested.iter().filter(|n| present.contains(*n)).count();
    let precision = correct as f64 / marked.len().max(1) as f64;
    // Found: marked present, or suggested to the teacher as the right student.
    let recall = (correct + suggested_right) as f64 / present.len() as f64;
    let auto_recall = correct as f64 / present.len() as f64;
    let wrong: Vec<&&str> = marked.iter().filter(|n| !present.contains(*n)).collect();
    eprintln!(
        "classroom {}x{}: {} faces placed, {} detected (recall {det_recall:.3}), roster {}, \
         marked {} (precision {precision:.3}, recall {auto_recall:.3}), suggested {} ({} right), \
         found {recall:.3}, wrongly marked {wrong:?}",
        spec.width,
        spec.height,
        scene.faces.len(),
        analysis.faces.len(),
        roster.len(),
        marked.len(),
        suggested.len(),
        suggested_right
    );
    assert!(det_recall >= 0.95, "detection recall {det_recall:.3}");
    assert!(precision >= 0.97, "attendance precision {precision:.3}");
    assert!(recall >= 0.9, "attendance recall {recall:.3}");
    assert!(auto_recall >= 0.8, "marked without asking {auto_recall:.3}");
}
