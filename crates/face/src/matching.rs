//! Matching faces of a photo to a roster: cosine similarities, one-to-one assignment
//! (Hungarian algorithm, maximum total similarity), threshold and margin.
//!
//! A student may have several templates (issue 13). Their similarity with a face is the
//! cosine to the L2-normalised mean of their templates (the centroid), less
//! `centroid_offset * (1 - 1/k)` for k templates; with one template it is that template's
//! cosine, unchanged. Why not the best template: the maximum over k templates raises the
//! impostor tail with every template added (on identities/ the false-accept rate at the
//! present threshold grew 1.5x with two templates and 3x with five), so the thresholds,
//! measured with one template, would no longer hold. The centroid's impostor scores keep their
//! mean and spread a little, which the offset cancels; at equal false accepts it also accepts
//! more genuine faces than the maximum or the mean of the best two. The calibration, on
//! identities/ only, is `templates::fusion_calibration_on_identities` in the engine tests;
//! the offset per recognizer is in models/manifest.toml.

use serde::Serialize;

use crate::embed::{cosine, l2_normalize};

/// One enrolled embedding of a student (a student may have several).
#[derive(Debug, Clone, Copy)]
pub struct RosterItem<'a> {
    /// The caller's student key (e.g. an index into its roster).
    pub key: usize,
    /// L2-normalised embedding.
    pub embedding: &'a [f32],
}

/// Thresholds for [`match_faces`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchParams {
    /// Minimum cosine similarity for a match (the student is taken to be present).
    pub threshold: f32,
    /// Minimum cosine similarity for a suggestion: a face between this and `threshold` is
    /// unknown but names the student it most likely is, for a person to confirm. Equal to
    /// `threshold` for no suggestions.
    pub review_threshold: f32,
    /// Minimum gap to the face's best similarity with any other student.
    pub margin: f32,
    /// How much a student's centroid similarity is lowered with many templates: by
    /// `centroid_offset * (1 - 1/k)` for k templates (0 for one), so that a similarity reads
    /// on the one-template scale the thresholds were measured on.
    pub centroid_offset: f32,
}

impl MatchParams {
    /// What is subtracted from the centroid similarity of a student with `templates`
    /// templates (0 for one).
    pub fn template_offset(&self, templates: usize) -> f32 {
        if templates <= 1 {
            return 0.0;
        }
        self.centroid_offset * (1.0 - 1.0 / templates as f32)
    }
}

/// A student a face probably is, below the match threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Suggestion {
    /// The student's key.
    pub student: usize,
    /// Cosine similarity.
    pub similarity: f32,
}

/// The verdict for one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaceMatch {
    /// Assigned to a student.
    Matched {
        /// The student's key.
        student: usize,
        /// Cosine similarity.
        similarity: f32,
    },
    /// Nobody on the roster for certain.
    Unknown {
        /// Best similarity to any student (0 with an empty roster).
        best_similarity: f32,
        /// The student this face most likely is, when its similarity reaches the review
        /// threshold (and the margin) but not the match threshold.
        suggestion: Option<Suggestion>,
    },
}

/// Matches every face to at most one student and every student to at most one face.
///
/// A student's similarity is the cosine to the centroid of their embeddings, less the
/// offset for their number of embeddings (see the module documentation; with one embedding,
/// the plain cosine). The assignment maximises the
/// total similarity over pairs at or above the review threshold; an assigned pair whose
/// similarity also exceeds the face's best similarity to any other student by at least
/// `margin` is a match from `threshold` up and a suggestion from `review_threshold` up.
/// Returns one entry per face, in order.
pub fn match_faces<F: AsRef<[f32]>>(
    faces: &[F],
    roster: &[RosterItem<'_>],
    params: &MatchParams,
) -> Vec<FaceMatch> {
    let mut students: Vec<usize> = roster.iter().map(|r| r.key).collect();
    students.sort_unstable();
    students.dedup();
    let sims = similarity_matrix(faces, roster, &students, params);
    let best = |row: &[f32]| row.iter().copied().fold(0.0f32, f32::max);
    let floor = params.review_threshold.min(params.threshold);

    // Weights: similarity at or above the floor, 0 otherwise, so pairs below it never steer
    // the assignment.
    let weights: Vec<Vec<f64>> = sims
        .iter()
        .map(|row| {
            row.iter()
                .map(|&s| if s >= floor { f64::from(s) } else { 0.0 })
                .collect()
        })
        .collect();
    let assignment = hungarian_max(&weights);

    sims.iter()
        .zip(assignment)
        .map(|(row, col)| {
            let best_similarity = best(row);
            let unknown = FaceMatch::Unknown {
                best_similarity,
                suggestion: None,
            };
            let Some(col) = col else { return unknown };
            let (Some(&sim), Some(&student)) = (row.get(col), students.get(col)) else {
                return unknown;
            };
            let other = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != col)
                .map(|(_, &s)| s)
                .fold(f32::NEG_INFINITY, f32::max);
            let gap_ok = other == f32::NEG_INFINITY || sim - other >= params.margin;
            if !gap_ok || sim < floor {
                unknown
            } else if sim >= params.threshold {
                FaceMatch::Matched {
                    student,
                    similarity: sim,
                }
            } else {
                FaceMatch::Unknown {
                    best_similarity,
                    suggestion: Some(Suggestion {
                        student,
                        similarity: sim,
                    }),
                }
            }
        })
        .collect()
}

/// One probe vector per student (the template itself when there is one, the L2-normalised
/// mean otherwise) and what to subtract from its cosine.
struct Prototype {
    vector: Vec<f32>,
    offset: f32,
}

/// The prototype of each of `students` (sorted keys) from the roster.
fn prototypes(
    roster: &[RosterItem<'_>],
    students: &[usize],
    params: &MatchParams,
) -> Vec<Prototype> {
    let mut sums: Vec<(Vec<f32>, usize)> = vec![(Vec::new(), 0); students.len()];
    for item in roster {
        if let Ok(j) = students.binary_search(&item.key)
            && let Some((sum, count)) = sums.get_mut(j)
        {
            if *count == 0 {
                sum.extend_from_slice(item.embedding);
            } else {
                for (s, x) in sum.iter_mut().zip(item.embedding) {
                    *s += x;
                }
            }
            *count += 1;
        }
    }
    sums.into_iter()
        .map(|(sum, count)| Prototype {
            // One template: used as stored, so that its scores are exactly as before.
            vector: if count > 1 { l2_normalize(&sum) } else { sum },
            offset: params.template_offset(count),
        })
        .collect()
}

/// faces x distinct students: each face's similarity with each student's prototype.
fn similarity_matrix<F: AsRef<[f32]>>(
    faces: &[F],
    roster: &[RosterItem<'_>],
    students: &[usize],
    params: &MatchParams,
) -> Vec<Vec<f32>> {
    let prototypes = prototypes(roster, students, params);
    faces
        .iter()
        .map(|face| {
            prototypes
                .iter()
                .map(|p| cosine(face.as_ref(), &p.vector) - p.offset)
                .collect()
        })
        .collect()
}

/// Maximum-weight assignment of rows to columns (rectangular; every row gets a column when
/// there are enough). Returns, for each row, its column.
pub fn hungarian_max(weights: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = weights.len();
    let cols = weights.iter().map(Vec::len).max().unwrap_or(0);
    if rows == 0 || cols == 0 {
        return vec![None; rows];
    }
    let w = |i: usize, j: usize| {
        weights
            .get(i)
            .and_then(|r| r.get(j))
            .copied()
            .unwrap_or(0.0)
    };
    if rows <= cols {
        let cost: Vec<Vec<f64>> = (0..rows)
            .map(|i| (0..cols).map(|j| -w(i, j)).collect())
            .collect();
        hungarian_min(&cost)
    } else {
        let cost: Vec<Vec<f64>> = (0..cols)
            .map(|j| (0..rows).map(|i| -w(i, j)).collect())
            .collect();
        let by_col = hungarian_min(&cost);
        let mut out = vec![None; rows];
        for (j, row) in by_col.into_iter().enumerate() {
            if let Some(i) = row
                && let Some(slot) = out.get_mut(i)
            {
                *slot = Some(j);
            }
        }
        out
    }
}

/// Minimum-cost assignment for an n x m cost matrix with n <= m and every row m long
/// (potentials method, O(n^2 m)). Returns each row's column. Indexing is plain: the
/// classic 1-based formulation (index 0 is the virtual row/column) never leaves its
/// arrays, so a bug here panics instead of silently assigning the wrong student.
fn hungarian_min(cost: &[Vec<f64>]) -> Vec<Option<usize>> {
    let n = cost.len();
    let m = cost.first().map_or(0, Vec::len);
    debug_assert!(n <= m && cost.iter().all(|row| row.len() == m));
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j]: row matched to column j (0 = none)
    let mut way = vec![0usize; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if used[j] {
                    continue;
                }
                let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                if cur < minv[j] {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if minv[j] < delta {
                    delta = minv[j];
                    j1 = j;
                }
            }
            if j1 == 0 {
                break; // only with costs that are not finite numbers
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut out = vec![None; n];
    for j in 1..=m {
        if p[j] > 0 {
            out[p[j] - 1] = Some(j - 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_beats_greedy() {
        // Greedy would take (0,0)=0.9 and leave (1,1)=0.1; optimum is 0.8 + 0.85.
        let w = vec![vec![0.9, 0.8], vec![0.85, 0.1]];
        assert_eq!(hungarian_max(&w), vec![Some(1), Some(0)]);
    }

    #[test]
    fn hungarian_rectangular_both_ways() {
        let w = vec![vec![0.1, 0.9, 0.3]];
        assert_eq!(hungarian_max(&w), vec![Some(1)]);
        let w = vec![vec![0.2], vec![0.7], vec![0.1]];
        assert_eq!(hungarian_max(&w), vec![None, Some(0), None]);
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        crate::embed::l2_normalize(v)
    }

    #[test]
    fn threshold_margin_and_multiple_embeddings() {
        let a1 = unit(&[1.0, 0.0, 0.0]);
        let a2 = unit(&[0.9, 0.1, 0.0]);
        let b = unit(&[0.0, 1.0, 0.0]);
        let roster = [
            RosterItem {
                key: 7,
                embedding: &a1,
            },
            RosterItem {
                key: 7,
                embedding: &a2,
            },
            RosterItem {
                key: 3,
                embedding: &b,
            },
        ];
        let faces = vec![
            unit(&[0.95, 0.05, 0.0]),
            unit(&[0.0, 0.0, 1.0]),
            unit(&[0.7, 0.7, 0.0]),
        ];
        let params = MatchParams {
            threshold: 0.5,
            review_threshold: 0.5,
            margin: 0.05,
            centroid_offset: 0.0,
        };
        let m = match_faces(&faces, &roster, &params);
        assert!(matches!(m[0], FaceMatch::Matched { student: 7, .. }));
        assert!(matches!(
            m[1],
            FaceMatch::Unknown {
                suggestion: None,
                ..
            }
        ));
        // Equally close to both students: fails the margin.
        assert!(matches!(
            m[2],
            FaceMatch::Unknown {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn several_templates_score_by_their_centroid_less_the_offset() {
        let t1 = unit(&[1.0, 0.0, 0.0]);
        let t2 = unit(&[0.0, 1.0, 0.0]);
        let face = unit(&[0.8, 0.0, 0.6]);
        let params = MatchParams {
            threshold: 0.99,
            review_threshold: 0.99,
            margin: 0.0,
            centroid_offset: 0.1,
        };
        let best = |roster: &[RosterItem<'_>]| match match_faces(&[&face], roster, &params)[0] {
            FaceMatch::Unknown {
                best_similarity, ..
            } => best_similarity,
            other => panic!("expected no match, got {other:?}"),
        };
        // One template: its cosine, bit for bit, whatever the offset.
        let one = [RosterItem {
            key: 0,
            embedding: &t1,
        }];
        assert_eq!(best(&one), cosine(&face, &t1));
        // Two: the cosine to their normalised mean (0.8 / sqrt 2), less 0.1 * (1 - 1/2);
        // the best template alone would say 0.8.
        let two = [
            RosterItem {
                key: 0,
                embedding: &t1,
            },
            RosterItem {
                key: 0,
                embedding: &t2,
            },
        ];
        let expected = 0.8 / 2.0f32.sqrt() - 0.05;
        assert!((best(&two) - expected).abs() < 1e-6, "{}", best(&two));
        assert_eq!(params.template_offset(1), 0.0);
        assert!((params.template_offset(5) - 0.08).abs() < 1e-6);
    }

    #[test]
    fn between_the_thresholds_is_a_suggestion() {
        let a = unit(&[1.0, 0.0, 0.0]);
        let b = unit(&[0.0, 1.0, 0.0]);
        let roster = [
            RosterItem {
                key: 1,
                embedding: &a,
            },
            RosterItem {
                key: 2,
                embedding: &b,
            },
        ];
        // cos = 0.6 with a, 0 with b; cos = 0.9 with b.
        let faces = vec![unit(&[0.6, 0.0, 0.8]), unit(&[0.0, 0.9, 0.43589])];
        let params = MatchParams {
            threshold: 0.7,
            review_threshold: 0.5,
            margin: 0.05,
            centroid_offset: 0.0,
        };
        let m = match_faces(&faces, &roster, &params);
        match m[0] {
            FaceMatch::Unknown {
                best_similarity,
                suggestion:
                    Some(Suggestion {
                        student: 1,
                        similarity,
                    }),
            } => {
                assert!((similarity - 0.6).abs() < 1e-4);
                assert_eq!(best_similarity, similarity);
            }
            other => panic!("expected a suggestion, got {other:?}"),
        }
        assert!(matches!(m[1], FaceMatch::Matched { student: 2, .. }));
        // No review band: no suggestion.
        let strict = MatchParams {
            review_threshold: 0.7,
            ..params
        };
        let m = match_faces(&faces, &roster, &strict);
        assert!(matches!(
            m[0],
            FaceMatch::Unknown {
                suggestion: None,
                ..
            }
        ));
    }

    #[test]
    fn empty_roster_gives_unknowns() {
        let faces = vec![unit(&[1.0, 0.0])];
        let m = match_faces(
            &faces,
            &[],
            &MatchParams {
                threshold: 0.3,
                review_threshold: 0.2,
                margin: 0.05,
                centroid_offset: 0.0,
            },
        );
        assert_eq!(
            m,
            vec![FaceMatch::Unknown {
                best_similarity: 0.0,
                suggestion: None,
            }]
        );
    }
}
