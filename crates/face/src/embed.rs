//! Face recognizers: aligned crop -> L2-normalised embedding.

use std::sync::Mutex;

use image::RgbImage;
use ort::session::Session;
use ort::value::TensorRef;

use crate::align::align;
use crate::error::FaceError;
use crate::geometry::DetectedFace;
use crate::manifest::{Arch, ModelSpec};
use crate::resample::{Normalize, pack_chw};

/// The standard ArcFace 112x112 five-point template.
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A loaded recognizer.
///
/// A graph with a fixed batch of 1 (fr_feature) gets one single-threaded session per thread,
/// and the faces of a photo are split between them, each on its own thread: on this project's
/// 2-core machine two such sessions embed 60 faces faster than one session with two intra-op
/// threads, and much faster when the cores are busy (ONNX Runtime's intra-op pool waits on a
/// thread the scheduler has not run; see the README's performance section). A batchable graph
/// keeps one session with `threads` intra-op threads and runs whole batches.
pub struct Recognizer {
    spec: ModelSpec,
    /// One session, or one single-threaded session per thread for a batch-1 graph.
    sessions: Vec<Mutex<Session>>,
    template: [[f32; 2]; 5],
    size: u32,
    /// Largest batch per run (1 for fixed-batch graphs).
    max_batch: usize,
}

impl Recognizer {
    /// Loads the recognizer model at `path`.
    pub fn load(
        spec: &ModelSpec,
        path: &std::path::Path,
        threads: usize,
    ) -> Result<Self, FaceError> {
        if spec.arch != Arch::Arcface {
            return Err(FaceError::Config(format!(
                "model {} is not a recognizer",
                spec.id
            )));
        }
        let open = |threads| crate::runtime::session(path, spec.optimization, threads, false);
        // A single-threaded session first: a batch-1 graph (the default recognizer) keeps it as
        // its first lane, so start-up loads no session it then throws away.
        let first = open(1)?;
        // The graph decides: a fixed leading dimension is the batch size, a symbolic one means
        // any batch (the manifest's `batch` is documentation, checked here).
        let graph_batch = first.inputs().first().and_then(|input| {
            input
                .dtype()
                .tensor_shape()
                .and_then(|s| s.first().copied())
        });
        let max_batch = match graph_batch {
            Some(n) if n > 0 => n as usize,
            _ => 32,
        };
        if let Some(declared) = spec.batch
            && declared != 0
            && declared != max_batch
        {
            tracing::warn!(model = %spec.id, declared, max_batch, "manifest batch differs from the graph");
        }
        let sessions = if max_batch == 1 {
            let mut lanes = vec![Mutex::new(first)];
            for _ in 1..threads {
                lanes.push(Mutex::new(open(1)?));
            }
            lanes
        } else if threads > 1 {
            vec![Mutex::new(open(threads)?)]
        } else {
            vec![Mutex::new(first)]
        };
        Ok(Self {
            template: spec.template.unwrap_or(ARCFACE_TEMPLATE),
            size: spec.input_size[0],
            spec: spec.clone(),
            sessions,
            max_batch,
        })
    }

    /// The model id (stored next to embeddings).
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The model's manifest entry (its thresholds among others).
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Aligns a detected face to the recognizer's template (`size` x `size` crop).
    pub fn align(&self, image: &RgbImage, face: &DetectedFace) -> Result<RgbImage, FaceError> {
        align(image, &face.landmarks, &self.template, self.size)
            .ok_or_else(|| FaceError::Runtime("degenerate face landmarks".into()))
    }

    /// Embeds aligned crops (batched when the graph allows); each embedding is L2-normalised.
    pub fn embed_aligned(&self, crops: &[RgbImage]) -> Result<Vec<Vec<f32>>, FaceError> {
        let lanes = self.sessions.len().min(crops.len()).max(1);
        let per_lane = crops.len().div_ceil(lanes).max(1);
        let mut parts = crops.chunks(per_lane).zip(&self.sessions);
        let Some((first, first_session)) = parts.next() else {
            return Ok(Vec::new());
        };
        std::thread::scope(|scope| {
            // The other lanes on threads of their own, the first on this one.
            let mut others = Vec::new();
            for (part, session) in parts {
                let handle = std::thread::Builder::new()
                    .name("rollcall-embed".into())
                    .spawn_scoped(scope, move || self.run_lane(session, part))
                    .map_err(|e| {
                        FaceError::Runtime(format!("cannot start an embedding thread: {e}"))
                    })?;
                others.push(handle);
            }
            let mut out = self.run_lane(first_session, first)?;
            for handle in others {
                let lane = handle
                    .join()
                    .map_err(|_| FaceError::Runtime("an embedding thread panicked".into()))??;
                out.extend(lane);
            }
            Ok(out)
        })
    }

    /// Embeds `crops` in order on one session, in batches the graph allows.
    fn run_lane(
        &self,
        session: &Mutex<Session>,
        crops: &[RgbImage],
    ) -> Result<Vec<Vec<f32>>, FaceError> {
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(self.max_batch.max(1)) {
            out.extend(self.run(session, chunk)?);
        }
        Ok(out)
    }

    /// Aligns and embeds faces of one image.
    pub fn embed(
        &self,
        image: &RgbImage,
        faces: &[DetectedFace],
    ) -> Result<Vec<Vec<f32>>, FaceError> {
        let crops = faces
            .iter()
            .map(|f| self.align(image, f))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_aligned(&crops)
    }

    fn run(
        &self,
        session: &Mutex<Session>,
        crops: &[RgbImage],
    ) -> Result<Vec<Vec<f32>>, FaceError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.size as usize;
        let plane = 3 * s * s;
        let norm = Normalize {
            color: self.spec.color,
            mean: self.spec.mean,
            std: self.spec.std,
        };
        let mut input = vec![0.0f32; plane * crops.len()];
        for (crop, dst) in crops.iter().zip(input.chunks_exact_mut(plane)) {
            pack_chw(crop, dst, s, s, 0, 0, norm);
        }
        let tensor = TensorRef::from_array_view(([crops.len(), 3, s, s], input.as_slice()))?;
        let mut session = session
            .lock()
            .map_err(|_| FaceError::Runtime("recognizer session lock poisoned".into()))?;
        let outputs = session.run(ort::inputs![tensor])?;
        let (_, value) = outputs
            .iter()
            .next()
            .ok_or_else(|| FaceError::Runtime("recognizer returned no output".into()))?;
        let (_, data) = value.try_extract_tensor::<f32>()?;
        if data.is_empty() || data.len() % crops.len() != 0 {
            return Err(FaceError::Runtime(format!(
                "recognizer output has {} values for {} faces",
                data.len(),
                crops.len()
            )));
        }
        let dim = data.len() / crops.len();
        Ok(data.chunks_exact(dim).map(l2_normalize).collect())
    }
}

/// Returns `v / |v|` (zeros stay zeros).
pub fn l2_normalize(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm <= f32::EPSILON {
        return v.to_vec();
    }
    v.iter().map(|x| x / norm).collect()
}

/// Dot product (cosine similarity of L2-normalised vectors).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
