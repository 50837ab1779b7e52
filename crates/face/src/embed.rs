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
pub struct Recognizer {
    spec: ModelSpec,
    session: Mutex<Session>,
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
        let session = crate::runtime::session(path, spec.optimization, threads, false)?;
        // The graph decides: a fixed leading dimension is the batch size, a symbolic one means
        // any batch (the manifest's `batch` is documentation, checked here).
        let graph_batch = session.inputs().first().and_then(|input| {
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
        Ok(Self {
            template: spec.template.unwrap_or(ARCFACE_TEMPLATE),
            size: spec.input_size[0],
            spec: spec.clone(),
            session: Mutex::new(session),
            max_batch,
        })
    }

    /// The model id (stored next to embeddings).
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Cosine threshold from the manifest at which two faces are taken for the same person
    /// (0.4 when it has none).
    pub fn default_threshold(&self) -> f32 {
        self.spec.threshold.unwrap_or(0.4)
    }

    /// Cosine threshold from the manifest at which attendance marks a student present
    /// without asking; never below [`Recognizer::default_threshold`].
    pub fn default_present_threshold(&self) -> f32 {
        let floor = self.default_threshold();
        self.spec.present_threshold.unwrap_or(floor).max(floor)
    }

    /// The manifest's `centroid_offset` (0 when it has none): how far the centroid
    /// similarity of a student with many templates is lowered (see
    /// [`crate::matching::MatchParams::centroid_offset`]).
    pub fn default_centroid_offset(&self) -> f32 {
        self.spec
            .centroid_offset
            .filter(|c| c.is_finite() && *c >= 0.0)
            .unwrap_or(0.0)
    }

    /// Aligns a detected face to the recognizer's template (`size` x `size` crop).
    pub fn align(&self, image: &RgbImage, face: &DetectedFace) -> Result<RgbImage, FaceError> {
        align(image, &face.landmarks, &self.template, self.size)
            .ok_or_else(|| FaceError::Runtime("degenerate face landmarks".into()))
    }

    /// Embeds aligned crops (batched when the graph allows); each embedding is L2-normalised.
    pub fn embed_aligned(&self, crops: &[RgbImage]) -> Result<Vec<Vec<f32>>, FaceError> {
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(self.max_batch.max(1)) {
            out.extend(self.run(chunk)?);
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

    fn run(&self, crops: &[RgbImage]) -> Result<Vec<Vec<f32>>, FaceError> {
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
        let mut session = self
            .session
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
