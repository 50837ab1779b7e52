//! Identification on identities/: enrol the first photo of each person, recognise the rest.

mod common;

use rollcall_face::embed::cosine;

#[test]
fn rank1_and_false_accepts_on_identities() {
    let engine = common::engine();
    let threshold = engine.match_params().threshold;
    let mut gallery: Vec<(String, Vec<f32>)> = Vec::new();
    let mut probes: Vec<(String, Vec<f32>)> = Vec::new();
    for (person, photos) in common::identities() {
        let mut enrolled = false;
        for photo in photos {
            let analysis = engine.analyze(&std::fs::read(&photo).unwrap()).unwrap();
            // The largest face is the person's.
            let Some(face) = analysis
                .faces
                .iter()
                .max_by(|a, b| (a.bbox.w * a.bbox.h).total_cmp(&(b.bbox.w * b.bbox.h)))
            else {
                eprintln!("no face in {}", photo.display());
                continue;
            };
            if enrolled {
                probes.push((person.clone(), face.embedding.clone()));
            } else {
                gallery.push((person.clone(), face.embedding.clone()));
                enrolled = true;
            }
        }
    }
    let mut rank1 = 0usize;
    let mut rank1_above = 0usize;
    let mut false_accepts = 0usize;
    let mut impostor_pairs = 0usize;
    for (person, emb) in &probes {
        let mut best = (f32::MIN, "");
        for (g, ge) in &gallery {
            let s = cosine(emb, ge);
            if s > best.0 {
                best = (s, g.as_str());
            }
            if g != person {
                impostor_pairs += 1;
                if s >= threshold {
                    false_accepts += 1;
                }
            }
        }
        if best.1 == person {
            rank1 += 1;
            if best.0 >= threshold {
                rank1_above += 1;
            }
        }
    }
    let n = probes.len() as f64;
    let r1 = rank1 as f64 / n;
    let r1_above = rank1_above as f64 / n;
    let far = false_accepts as f64 / impostor_pairs.max(1) as f64;
    eprintln!(
        "recognizer {}: {} people, {} probes, rank-1 {:.3}, rank-1 above threshold {threshold:.3}: {:.3}, \
         false accepts {false_accepts}/{impostor_pairs} pairs ({far:.5})",
        engine.recognizer_id(),
        gallery.len(),
        probes.len(),
        r1,
        r1_above
    );
    assert!(gallery.len() >= 50);
    assert!(r1 >= 0.94, "rank-1 {r1:.3}");
    assert!(far <= 0.005, "false-accept rate {far:.5}");
}
