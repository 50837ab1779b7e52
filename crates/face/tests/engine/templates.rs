//! Issue 13: how a student's several templates make one score, calibrated on identities/ only
//! (the group photos, which judge the result in `groups::templates_per_person`, are never
//! looked at here).
//!
//! Every photo of identities/ gives a template when the enrolment gate accepts it (the
//! embedding `Engine::enrol` stores) and a probe (its largest face, as `Engine::analyze`
//! finds faces in a class photo). For each person and each template count k, galleries are
//! k-subsets of the person's accepted photos (all of them, or evenly spaced ones past
//! `GALLERIES_PER_PERSON`); the genuine trials are the person's other photos, the impostor
//! trials every photo of everyone else. Ground truth is the folder a photo is in.
//!
//! Printed per fusion rule and k: the impostor rate (FAR) at the manifest's present and
//! review thresholds, the threshold at which the rule's FAR equals the single-template FAR
//! at those thresholds, and the genuine acceptance (TAR) there.
//!
//! `cargo test --workspace --test engine templates:: -- --nocapture`

use crate::common;

use rollcall_face::{cosine, l2_normalize};

/// The largest number of k-subsets of one person's photos used as galleries.
const GALLERIES_PER_PERSON: usize = 30;

/// One photo of identities/.
struct Photo {
    person: usize,
    /// The enrolment embedding, when the gate accepts the photo.
    template: Option<Vec<f32>>,
    /// The largest face found as in a class photo.
    probe: Option<Vec<f32>>,
}

/// Templates and probes of every photo of identities/, and the people's names.
fn photos() -> (Vec<String>, Vec<Photo>) {
    let engine = common::engine();
    let mut names = Vec::new();
    let mut photos = Vec::new();
    for (person, files) in common::identities() {
        for file in &files {
            let image = engine
                .decode(&std::fs::read(file).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let assessment = engine.assess(&image).unwrap();
            let template = assessment.embedding.filter(|_| assessment.report.passed());
            let probe = engine
                .analyze_rgb(&image)
                .unwrap()
                .faces
                .into_iter()
                .max_by(|a, b| (a.bbox.w * a.bbox.h).total_cmp(&(b.bbox.w * b.bbox.h)))
                .map(|f| f.embedding);
            photos.push(Photo {
                person: names.len(),
                template,
                probe,
            });
        }
        names.push(person);
    }
    (names, photos)
}

/// Every k-subset of `0..n` in lexicographic order.
fn combinations(n: usize, k: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    if k == 0 || k > n {
        return out;
    }
    let mut c: Vec<usize> = (0..k).collect();
    loop {
        out.push(c.clone());
        let Some(i) = (0..k).rev().find(|&i| c[i] < n - k + i) else {
            return out;
        };
        c[i] += 1;
        for j in i + 1..k {
            c[j] = c[j - 1] + 1;
        }
    }
}

/// A candidate rule: the score of a probe against a student's templates.
type Rule = fn(&[f32], &[&[f32]]) -> f32;

fn best_template(probe: &[f32], templates: &[&[f32]]) -> f32 {
    templates
        .iter()
        .map(|t| cosine(probe, t))
        .fold(f32::NEG_INFINITY, f32::max)
}

fn centroid(probe: &[f32], templates: &[&[f32]]) -> f32 {
    if let [one] = templates {
        return cosine(probe, one);
    }
    let mut sum = vec![0.0f32; probe.len()];
    for t in templates {
        for (s, x) in sum.iter_mut().zip(t.iter()) {
            *s += x;
        }
    }
    cosine(probe, &l2_normalize(&sum))
}

fn mean_of_top_two(probe: &[f32], templates: &[&[f32]]) -> f32 {
    let mut s: Vec<f32> = templates.iter().map(|t| cosine(probe, t)).collect();
    s.sort_by(|a, b| b.total_cmp(a));
    match s.as_slice() {
        [a, b, ..] => (a + b) / 2.0,
        [a] => *a,
        [] => f32::NEG_INFINITY,
    }
}

fn mean(probe: &[f32], templates: &[&[f32]]) -> f32 {
    templates.iter().map(|t| cosine(probe, t)).sum::<f32>() / templates.len() as f32
}

/// Genuine and impostor scores of `rule` with k templates per gallery.
fn trials(photos: &[Photo], people: usize, k: usize, rule: Rule) -> (Vec<f32>, Vec<f32>) {
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for person in 0..people {
        let accepted: Vec<usize> = (0..photos.len())
            .filter(|&i| photos[i].person == person && photos[i].template.is_some())
            .collect();
        let all = combinations(accepted.len(), k);
        let picked: Vec<&Vec<usize>> = if all.len() <= GALLERIES_PER_PERSON {
            all.iter().collect()
        } else {
            (0..GALLERIES_PER_PERSON)
                .map(|i| &all[i * all.len() / GALLERIES_PER_PERSON])
                .collect()
        };
        for subset in picked {
            let members: Vec<usize> = subset.iter().map(|&j| accepted[j]).collect();
            let templates: Vec<&[f32]> = members
                .iter()
                .filter_map(|&i| photos[i].template.as_deref())
                .collect();
            for (i, photo) in photos.iter().enumerate() {
                let Some(probe) = photo.probe.as_deref() else {
                    continue;
                };
                if photo.person != person {
                    impostor.push(rule(probe, &templates));
                } else if !members.contains(&i) {
                    genuine.push(rule(probe, &templates));
                }
            }
        }
    }
    (genuine, impostor)
}

fn rate(scores: &[f32], threshold: f32) -> f64 {
    scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len().max(1) as f64
}

/// The lowest threshold at which at most `far` of `impostor` reach it.
fn threshold_at(impostor: &[f32], far: f64) -> f32 {
    let mut sorted = impostor.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (far * sorted.len() as f64).floor() as usize;
    sorted
        .get(allowed)
        .map_or(f32::NEG_INFINITY, |s| s.next_up())
}

#[test]
fn fusion_calibration_on_identities() {
    let engine = common::engine();
    let params = engine.match_params();
    let (names, photos) = photos();
    let accepted = photos.iter().filter(|p| p.template.is_some()).count();
    let probes = photos.iter().filter(|p| p.probe.is_some()).count();
    eprintln!(
        "{} people, {} photos: {accepted} accepted by the gate (templates), {probes} with a \
         face (probes); recognizer {}, present {:.2}, review {:.2}, centroid offset {:.3}",
        names.len(),
        photos.len(),
        engine.recognizer_id(),
        params.threshold,
        params.review_threshold,
        params.centroid_offset,
    );
    // The reference: one template, the manifest's thresholds.
    let (genuine1, impostor1) = trials(&photos, names.len(), 1, best_template);
    let far_present = rate(&impostor1, params.threshold);
    let far_review = rate(&impostor1, params.review_threshold);
    let count = |scores: &[f32], t: f32| scores.iter().filter(|&&s| s >= t).count();
    eprintln!(
        "k=1: {} genuine, {} impostor trials; present {:.2}: FAR {far_present:.2e} ({} trials) \
         TAR {:.3}; review {:.2}: FAR {far_review:.2e} ({} trials) TAR {:.3}",
        genuine1.len(),
        impostor1.len(),
        params.threshold,
        count(&impostor1, params.threshold),
        rate(&genuine1, params.threshold),
        params.review_threshold,
        count(&impostor1, params.review_threshold),
        rate(&genuine1, params.review_threshold),
    );
    // Operating points: the single-template FAR at the two thresholds, and two more for a
    // steadier fit (the FAR at the present threshold rests on a dozen impostor trials).
    let operating = [far_present, far_review, 1e-3, 3e-3];
    let reference: Vec<f32> = operating
        .iter()
        .map(|&far| threshold_at(&impostor1, far))
        .collect();
    let rules: [(&str, Rule); 4] = [
        ("max", best_template),
        ("centroid", centroid),
        ("mean of top 2", mean_of_top_two),
        ("mean", mean),
    ];
    let mut failures = Vec::new();
    // Least-squares fit of the centroid's shift at equal FAR to c * (1 - 1/k).
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for k in 2..=5 {
        // TAR at the single-template FAR of the present and review thresholds, per rule.
        let mut at_equal_far: Vec<(&str, f64, f64)> = Vec::new();
        for (name, rule) in rules {
            let (genuine, impostor) = trials(&photos, names.len(), k, rule);
            let equal: Vec<f32> = operating
                .iter()
                .map(|&far| threshold_at(&impostor, far))
                .collect();
            let shifts: Vec<String> = equal
                .iter()
                .zip(&reference)
                .map(|(t, r)| format!("{:+.3}", t - r))
                .collect();
            eprintln!(
                "k={k} {name:<14} {:>5} genuine {:>6} impostor | unshifted at {:.2}: FAR {:.2e} \
                 TAR {:.3}, at {:.2}: FAR {:.2e} TAR {:.3} | at the single-template FAR: \
                 present {:.3} TAR {:.3}, review {:.3} TAR {:.3}; shift at FAR {:.1e}, {:.1e}, \
                 1e-3, 3e-3: {}",
                genuine.len(),
                impostor.len(),
                params.threshold,
                rate(&impostor, params.threshold),
                rate(&genuine, params.threshold),
                params.review_threshold,
                rate(&impostor, params.review_threshold),
                rate(&genuine, params.review_threshold),
                equal[0],
                rate(&genuine, equal[0]),
                equal[1],
                rate(&genuine, equal[1]),
                far_present,
                far_review,
                shifts.join(" "),
            );
            at_equal_far.push((name, rate(&genuine, equal[0]), rate(&genuine, equal[1])));
            if name == "centroid" {
                let w = 1.0 - 1.0 / k as f64;
                for (t, r) in equal.iter().zip(&reference) {
                    num += f64::from(t - r) * w;
                    den += w * w;
                }
                // What the engine does: the manifest's offset, the manifest's thresholds.
                let offset = params.template_offset(k);
                let shifted: Vec<f32> = impostor.iter().map(|s| s - offset).collect();
                let genuine: Vec<f32> = genuine.iter().map(|s| s - offset).collect();
                for (what, t, reference) in [
                    ("present", params.threshold, far_present),
                    ("review", params.review_threshold, far_review),
                ] {
                    let far = rate(&shifted, t);
                    eprintln!(
                        "k={k} centroid less {offset:.4}: {what} {t:.2}: FAR {far:.2e} ({} \
                         trials, {:.2}x one template's) TAR {:.3}",
                        count(&shifted, t),
                        far / reference,
                        rate(&genuine, t),
                    );
                    // The reference rests on 11 (present) and 39 (review) impostor trials:
                    // equal within a tenth.
                    if far > reference * 1.1 {
                        failures.push(format!(
                            "{k} templates: FAR {far:.2e} at the {what} threshold {t:.2}, one \
                             template {reference:.2e}"
                        ));
                    }
                }
            }
        }
        // The choice: the centroid accepts the most genuine faces at equal false accepts.
        let centroid_tar = at_equal_far.iter().find(|r| r.0 == "centroid").copied();
        if let Some((_, present, review)) = centroid_tar {
            for (name, p, r) in &at_equal_far {
                if *p > present || *r > review {
                    failures.push(format!(
                        "{k} templates: {name} accepts more genuine faces at equal FAR \
                         ({p:.3}/{r:.3}) than the centroid ({present:.3}/{review:.3})"
                    ));
                }
            }
        }
    }
    eprintln!(
        "centroid shift at equal FAR fitted to c * (1 - 1/k), k = 2..5, four operating points: \
         c = {:.4} (manifest: {:.3})",
        num / den,
        params.centroid_offset
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
