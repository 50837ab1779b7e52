//! The alternative models of the manifest work through the same code: other detectors
//! (SCRFD-500M, both YuNet variants) and the 128-d recognizer.

use crate::common;

use rollcall_face::cosine;
use rollcall_face::{Engine, EngineConfig};

fn engine_with(detector: &str, recognizer: &str) -> Engine {
    Engine::load(&EngineConfig {
        detector: detector.to_owned(),
        recognizer: recognizer.to_owned(),
        ..common::config()
    })
    .unwrap_or_else(|e| panic!("{detector}/{recognizer}: {e}"))
}

#[test]
fn alternative_detectors_find_both_faces() {
    let bytes = common::read("groups/obama_biden_1.jpg");
    for detector in ["scrfd_500m", "yunet_2023mar", "yunet_2026may"] {
        let engine = engine_with(detector, "faceplugin_fr_feature_512");
        assert_eq!(engine.detector_id(), detector);
        let analysis = engine.analyze(&bytes).unwrap();
        eprintln!("{detector}: {} faces", analysis.faces.len());
        assert_eq!(analysis.faces.len(), 2, "{detector}");
        for face in &analysis.faces {
            // Keypoints inside the box: decoding is right.
            let b = face.bbox;
            for p in face.landmarks {
                assert!(
                    p.x > b.x && p.x < b.x2() && p.y > b.y && p.y < b.y2(),
                    "{detector}: {face:?}"
                );
            }
        }
    }
}

#[test]
fn mobilefacenet_recognizer_embeds_a_group() {
    let engine = engine_with("scrfd_2.5g", "mobilefacenet_128");
    assert_eq!(engine.recognizer_id(), "mobilefacenet_128");
    let group = engine
        .analyze(&common::read("groups/friends_cast_steps.jpg"))
        .unwrap();
    assert_eq!(group.faces.len(), 6);
    assert!(group.faces.iter().all(|f| f.embedding.len() == 128));
    let a = engine
        .enrol(&common::read("identities/barack_obama/1.jpg"))
        .unwrap();
    let b = engine
        .enrol(&common::read("identities/barack_obama/3.jpg"))
        .unwrap();
    let c = engine
        .enrol(&common::read("identities/bill_gates/2.jpg"))
        .unwrap();
    let same = cosine(&a.embedding, &b.embedding);
    let other = cosine(&a.embedding, &c.embedding);
    eprintln!("mobilefacenet_128: same person {same:.3}, different {other:.3}");
    assert!(
        same > 0.4 && same - other > 0.2,
        "same {same}, other {other}"
    );
}

#[test]
fn missing_and_corrupt_model_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::load(&EngineConfig {
        model_dir: dir.path().to_owned(),
        ..common::config()
    })
    .err()
    .expect("no models in an empty directory");
    let msg = err.to_string();
    assert!(
        msg.contains("det_2.5g.onnx") && msg.contains("rollcall models fetch"),
        "{msg}"
    );

    std::fs::create_dir_all(dir.path().join("scrfd")).unwrap();
    std::fs::write(dir.path().join("scrfd/det_2.5g.onnx"), b"not a model").unwrap();
    let err = Engine::load(&EngineConfig {
        model_dir: dir.path().to_owned(),
        ..common::config()
    })
    .err()
    .expect("a corrupt model");
    let msg = err.to_string();
    assert!(
        msg.contains("041f73f4") && msg.contains("det_2.5g.onnx"),
        "{msg}"
    );
}
