//! The bridge to the face engine (`rollcall_face`): the models are loaded once, at
//! start-up ([`Vision::load`]) or by the first photo ([`Vision::lazy`], for tests), and every photo is analysed on a bounded pool of blocking threads, off the
//! async runtime.
//!
//! Admission has two stages. [`Vision::admit`] hands out a [`Ticket`] when fewer than
//! `workers + queue` photos are in the service (otherwise [`VisionError::Busy`] at once);
//! handlers take the ticket *before* reading the upload, so waiting requests never pile up
//! photos in memory. A ticket then waits at most `queue_timeout` for one of the `workers`
//! slots ([`VisionError::Busy`] after that). The ticket and the slot move into the blocking
//! job, so a cancelled request keeps its slot until the engine is done with the photo.
//!
//! Photos are only ever held in memory for the duration of the request; only embeddings
//! and the aligned face crops (112x112, JPEG-encoded here, for thumbnails and model
//! upgrades) leave this module.

use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;
use rollcall_face::{
    BBox, DetectedFace, Engine, EngineConfig, FaceError, FaceMatch, Limits, MatchConfig,
    MatchParams, QualityReport, ReasonCode, RosterItem,
};
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::config::Settings;
use crate::store::{ClassRoster, RosterEntry, StudentId};

/// What a client is told to wait before retrying when the pool is saturated.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a photo could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// Too many photos in the service, or no worker freed up in time.
    #[error("the face engine is busy; try again in a few seconds")]
    Busy {
        /// Suggested wait before retrying.
        retry_after: Duration,
    },
    /// The engine refused the photo (client error) or failed (internal error).
    #[error(transparent)]
    Face(#[from] FaceError),
    /// The blocking worker panicked or was cancelled (internal error).
    #[error("inference worker failed: {0}")]
    Worker(String),
}

/// Permission to have one photo in the service; see the module documentation.
#[derive(Debug)]
pub struct Ticket {
    _permit: OwnedSemaphorePermit,
}

/// One face of a class photo with its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct RecognisedFace {
    /// Face box in original-image pixels.
    pub bbox: BBox,
    /// Detector confidence.
    pub score: f32,
    /// Who it is among the class's members, if anyone.
    pub verdict: Verdict,
    /// For a face that is nobody of the class for certain: the teacher's other student it
    /// matches (threshold and margin among those students), with the similarity.
    pub outsider: Option<(StudentId, f32)>,
    /// For a face suggested to the teacher: what a confirmation can teach from.
    pub evidence: Option<FaceEvidence>,
}

/// A face of a class photo that a teacher's confirmation may add to the student's
/// templates: its embedding, the enrolment gate's checks on it (all but "more than one
/// face", which a class photo always has) and its aligned crop. Never the photo itself.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceEvidence {
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// The gate's findings on this face.
    pub quality: QualityReport,
    /// The aligned face crop, as a JPEG.
    pub crop_jpeg: Vec<u8>,
}

/// The verdict for one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Assigned to this student (one face per student, one student per face).
    Student {
        /// The student.
        student_id: StudentId,
        /// Cosine similarity to the student's closest enrolled embedding.
        similarity: f32,
    },
    /// Nobody on the roster for certain (below the threshold or too close to call).
    Unknown {
        /// Best similarity to any student.
        best_similarity: f32,
        /// The student it most likely is, between the review and the match threshold: for the
        /// teacher to confirm, never marked by itself.
        suggestion: Option<(StudentId, f32)>,
    },
}

/// A photo accepted by the enrolment quality gate.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    /// L2-normalised embedding of the face.
    pub embedding: Vec<f32>,
    /// What the gate measured.
    pub quality: QualityReport,
    /// The aligned face crop (what was embedded), as a JPEG of a few KB.
    pub crop_jpeg: Vec<u8>,
}

/// JPEG quality of stored face crops: 112x112 at 85 is about 3-5 KB.
const CROP_JPEG_QUALITY: u8 = 85;

/// Encodes an aligned face crop as JPEG.
pub fn encode_crop(crop: &RgbImage) -> Result<Vec<u8>, FaceError> {
    let mut out = Vec::with_capacity(8 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, CROP_JPEG_QUALITY)
        .encode_image(crop)
        .map_err(|e| FaceError::Runtime(format!("encoding a face crop: {e}")))?;
    Ok(out)
}

/// Decodes a stored face crop (JPEG).
pub fn decode_crop(jpeg: &[u8]) -> Result<RgbImage, FaceError> {
    image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .map(|image| image.to_rgb8())
        .map_err(|e| FaceError::InvalidImage {
            reason: format!("stored face crop: {e}"),
        })
}

/// The faces of a class photo, by descending detection score.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// Image width after EXIF orientation.
    pub width: u32,
    /// Image height after EXIF orientation.
    pub height: u32,
    /// Every detected face with its verdict.
    pub faces: Vec<RecognisedFace>,
}

/// The face engine behind a bounded worker pool. Cheap to share (`Arc`).
pub struct Vision {
    /// Loaded at start-up, or by the first photo.
    engine: OnceCell<Arc<Engine>>,
    config: EngineConfig,
    params: MatchParams,
    admission: Arc<Semaphore>,
    workers: Arc<Semaphore>,
    queue_timeout: Duration,
    duplicate_threshold: f32,
}

impl std::fmt::Debug for Vision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vision")
            .field("detector", &self.config.detector)
            .field("recognizer", &self.config.recognizer)
            .field("threshold", &self.params.threshold)
            .finish_non_exhaustive()
    }
}

impl Vision {
    /// The engine configuration for `settings`.
    pub fn engine_config(settings: &Settings) -> EngineConfig {
        let v = &settings.vision;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        EngineConfig {
            model_dir: v.model_dir.clone(),
            detector: v.detector.clone(),
            recognizer: v.recognizer.clone(),
            threads: Some(v.threads.unwrap_or((cores / v.workers.max(1)).max(1))),
            limits: Limits {
                max_bytes: u64::try_from(settings.max_upload_bytes).unwrap_or(u64::MAX),
                ..Limits::default()
            },
            matching: MatchConfig {
                threshold: v.match_threshold,
                review_threshold: v.review_threshold,
                margin: v.match_margin,
            },
            ..EngineConfig::default()
        }
    }

    /// Loads and verifies the models named by `settings` (blocking: call it at start-up,
    /// off the async runtime). A missing model file is an error that says how to get it.
    pub fn load(settings: &Settings) -> Result<Self, FaceError> {
        let vision = Self::lazy(settings)?;
        let engine = Engine::load(&vision.config)?;
        vision
            .engine
            .set(Arc::new(engine))
            .map_err(|e| FaceError::Runtime(e.to_string()))?;
        Ok(vision)
    }

    /// Like [`Vision::load`], but the models are loaded by the first photo; only the model
    /// manifest is read now (tests that send no photo never load the models).
    pub fn lazy(settings: &Settings) -> Result<Self, FaceError> {
        let config = Self::engine_config(settings);
        let params = Engine::match_params_of(&config)?;
        let v = &settings.vision;
        let workers = v.workers.max(1);
        Ok(Self {
            engine: OnceCell::new(),
            config,
            params,
            admission: Arc::new(Semaphore::new(workers.saturating_add(v.queue))),
            workers: Arc::new(Semaphore::new(workers)),
            queue_timeout: v.queue_timeout,
            duplicate_threshold: v.duplicate_threshold.max(params.threshold),
        })
    }

    /// The recognizer model id stored next to every embedding.
    pub fn recognizer_id(&self) -> &str {
        &self.config.recognizer
    }

    /// The cosine similarity at or above which two faces are taken for the same person.
    pub fn threshold(&self) -> f32 {
        self.params.threshold
    }

    /// Admits one photo, or fails at once with [`VisionError::Busy`] when the queue is full.
    pub fn admit(&self) -> Result<Ticket, VisionError> {
        self.admission
            .clone()
            .try_acquire_owned()
            .map(|permit| Ticket { _permit: permit })
            .map_err(|_| VisionError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            })
    }

    /// The suggestion threshold (the recognizer's FAR 1e-3 point unless configured).
    pub fn review_threshold(&self) -> f32 {
        self.params.review_threshold
    }

    /// The similarity at which a face is taken for an already enrolled one.
    pub fn duplicate_threshold(&self) -> f32 {
        self.duplicate_threshold
    }

    /// Runs the enrolment quality gate on a photo and embeds its face; the aligned crop comes
    /// back JPEG-encoded.
    pub async fn enrol(&self, ticket: Ticket, photo: Vec<u8>) -> Result<Enrolled, VisionError> {
        self.run(ticket, move |engine| {
            let enrolment = engine.enrol(&photo)?;
            drop(photo);
            let crop_jpeg = encode_crop(&enrolment.aligned)?;
            Ok(Enrolled {
                embedding: enrolment.embedding,
                quality: enrolment.quality,
                crop_jpeg,
            })
        })
        .await
    }

    /// Detects and embeds every face of a class photo and assigns faces to the class's
    /// members (`roster.members`: one-to-one, threshold and margin); the faces that are
    /// nobody of the class for certain are then matched the same way against the teacher's
    /// other students (`roster.others`), which gives [`RecognisedFace::outsider`].
    pub async fn recognise(
        &self,
        ticket: Ticket,
        photo: Vec<u8>,
        roster: ClassRoster,
    ) -> Result<Recognition, VisionError> {
        self.run(ticket, move |engine| {
            let image = engine.decode(&photo)?;
            drop(photo);
            // The decoded image stays, for the evidence of suggested faces.
            let analysis = engine.analyze_rgb(&image)?;
            let (detected, owned): (Vec<DetectedFace>, Vec<Vec<f32>>) = analysis
                .faces
                .into_iter()
                .map(|f| {
                    let face = DetectedFace {
                        bbox: f.bbox,
                        score: f.score,
                        landmarks: f.landmarks,
                    };
                    (face, f.embedding)
                })
                .unzip();
            let embeddings: Vec<&[f32]> = owned.iter().map(Vec::as_slice).collect();
            let verdicts = assign(engine, &embeddings, &roster.members);
            // Second pass: the faces that are nobody of the class, against everyone else.
            let (strangers, probes): (Vec<usize>, Vec<&[f32]>) = verdicts
                .iter()
                .zip(&embeddings)
                .enumerate()
                .filter(|(_, (v, _))| matches!(v, Verdict::Unknown { .. }))
                .map(|(i, (_, e))| (i, *e))
                .unzip();
            let mut outsiders: Vec<Option<(StudentId, f32)>> = vec![None; verdicts.len()];
            if !probes.is_empty() && !roster.others.is_empty() {
                let second = assign(engine, &probes, &roster.others);
                for (i, verdict) in strangers.into_iter().zip(second) {
                    if let (
                        Some(slot),
                        Verdict::Student {
                            student_id,
                            similarity,
                        },
                    ) = (outsiders.get_mut(i), verdict)
                    {
                        *slot = Some((student_id, similarity));
                    }
                }
            }
            let faces = detected
                .iter()
                .zip(owned)
                .zip(verdicts)
                .zip(outsiders)
                .map(|(((face, embedding), verdict), outsider)| {
                    let suggested = matches!(
                        verdict,
                        Verdict::Unknown {
                            suggestion: Some(_),
                            ..
                        }
                    );
                    let evidence = if suggested {
                        Some(face_evidence(engine, &image, &detected, face, embedding)?)
                    } else {
                        None
                    };
                    Ok(RecognisedFace {
                        bbox: face.bbox,
                        score: face.score,
                        verdict,
                        outsider,
                        evidence,
                    })
                })
                .collect::<Result<Vec<_>, FaceError>>()?;
            Ok(Recognition {
                width: image.width(),
                height: image.height(),
                faces,
            })
        })
        .await
    }

    /// The roster entry most similar to `embedding`, when at or above the duplicate threshold
    /// (used to refuse enrolling the same face twice).
    pub fn closest<'a>(
        &self,
        embedding: &[f32],
        roster: &'a [RosterEntry],
    ) -> Option<(&'a RosterEntry, f32)> {
        roster
            .iter()
            .map(|entry| (entry, cosine_similarity(embedding, &entry.embedding)))
            .filter(|&(_, sim)| sim >= self.duplicate_threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Waits (bounded) for a worker slot and runs `job` on a blocking thread.
    async fn run<T, F>(&self, ticket: Ticket, job: F) -> Result<T, VisionError>
    where
        T: Send + 'static,
        F: FnOnce(&Engine) -> Result<T, FaceError> + Send + 'static,
    {
        let slot = tokio::time::timeout(self.queue_timeout, self.workers.clone().acquire_owned())
            .await
            .map_err(|_| VisionError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            })?
            .map_err(|e| VisionError::Worker(e.to_string()))?;
        let engine = self.engine().await?;
        // The request's span follows the work onto the blocking thread.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let result = job(&engine);
            drop(slot);
            drop(ticket);
            result
        })
        .await
        .map_err(|e| VisionError::Worker(e.to_string()))?
        .map_err(VisionError::from)
    }
}

impl Vision {
    /// The engine, loaded (on a blocking thread) by the first call when it is not yet.
    async fn engine(&self) -> Result<Arc<Engine>, VisionError> {
        let load = || async {
            let config = self.config.clone();
            let span = tracing::Span::current();
            tokio::task::spawn_blocking(move || span.in_scope(|| Engine::load(&config)))
                .await
                .map_err(|e| VisionError::Worker(e.to_string()))?
                .map(Arc::new)
                .map_err(VisionError::from)
        };
        self.engine.get_or_try_init(load).await.cloned()
    }
}

/// The evidence of one face of a class photo (see [`FaceEvidence`]).
fn face_evidence(
    engine: &Engine,
    image: &RgbImage,
    faces: &[DetectedFace],
    face: &DetectedFace,
    embedding: Vec<f32>,
) -> Result<FaceEvidence, FaceError> {
    let (mut quality, aligned) = engine.assess_face(image, faces, face)?;
    // A class photo has other faces by nature.
    quality
        .issues
        .retain(|issue| issue.code != ReasonCode::MultipleFaces);
    Ok(FaceEvidence {
        embedding,
        quality,
        crop_jpeg: encode_crop(&aligned)?,
    })
}

/// Assigns `faces` to the students of `roster` (one-to-one, threshold and margin).
fn assign(engine: &Engine, faces: &[&[f32]], roster: &[RosterEntry]) -> Vec<Verdict> {
    // Keys of the matcher are indices into `students` (a student may have several
    // embeddings).
    let mut students: Vec<StudentId> = roster.iter().map(|r| r.student_id).collect();
    students.sort_unstable();
    students.dedup();
    let items: Vec<RosterItem<'_>> = roster
        .iter()
        .filter_map(|r| {
            let key = students.binary_search(&r.student_id).ok()?;
            Some(RosterItem {
                key,
                embedding: &r.embedding,
            })
        })
        .collect();
    engine
        .match_faces(faces, &items)
        .into_iter()
        .map(|m| match m {
            FaceMatch::Matched {
                student,
                similarity,
            } => match students.get(student) {
                Some(&student_id) => Verdict::Student {
                    student_id,
                    similarity,
                },
                None => Verdict::Unknown {
                    best_similarity: similarity,
                    suggestion: None,
                },
            },
            FaceMatch::Unknown {
                best_similarity,
                suggestion,
            } => Verdict::Unknown {
                best_similarity,
                suggestion: suggestion
                    .and_then(|s| students.get(s.student).map(|&id| (id, s.similarity))),
            },
        })
        .collect()
}

/// Cosine similarity of two embeddings of any norm (0 when either is zero or their lengths
/// differ). Not `rollcall_face::cosine`, the plain dot product of unit vectors.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let norm = (na * nb).sqrt();
    if norm > 0.0 { dot / norm } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::cosine_similarity as cosine;

    #[test]
    fn cosine_is_safe_on_odd_input() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
