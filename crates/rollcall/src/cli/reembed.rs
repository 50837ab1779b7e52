//! `rollcall models reembed --recognizer <id>`: a model upgrade without re-enrolment. Every
//! face template with a stored crop and no embedding of the new recognizer is decrypted,
//! decoded and embedded again, in batches, with a progress bar. It is resumable: a run
//! only picks up the templates still missing, so an interrupted one continues where it
//! stopped. The service keeps matching with its configured recognizer (its own embeddings)
//! throughout; the switch (`ROLLCALL_RECOGNIZER=<id>` and a restart) is safe once every
//! student has a template of the new model, which the command reports.

use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use rollcall_face::FaceError;
use rollcall_face::manifest::{Manifest, Role, verify_model_file};
use rollcall_face::{ARCFACE_TEMPLATE, Recognizer};

use crate::config::Settings;
use crate::crypto::{DataKey, crop_aad};
use crate::store::{ModelCoverage, Store, StoreError};
use crate::vision::decode_crop;

/// The crops are aligned to the ArcFace five-point template at this size.
const CROP_SIZE: u32 = 112;

/// Why a re-embedding run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReembedError {
    /// The recognizer cannot be loaded or cannot use the stored crops.
    #[error("recognizer: {0}")]
    Model(#[from] FaceError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The settings (e.g. the data key) are unusable.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The worker thread failed.
    #[error("embedding worker failed: {0}")]
    Worker(String),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    App(#[from] crate::app::AppError),
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReembedReport {
    /// Templates embedded by this run.
    pub embedded: u64,
    /// Crops that could not be decrypted or decoded (skipped; the cause was logged).
    pub unreadable: u64,
    /// Coverage of the new recognizer afterwards.
    pub coverage: ModelCoverage,
}

impl ReembedReport {
    /// Every student has a template of the new recognizer.
    pub fn complete(&self) -> bool {
        self.coverage.covered == self.coverage.students
    }
}

/// Loads recognizer `id` from the manifest and checks that it takes the stored crops
/// (112x112, aligned to the ArcFace template).
pub fn load_recognizer(
    model_dir: &std::path::Path,
    id: &str,
    threads: usize,
) -> Result<Recognizer, FaceError> {
    let manifest = Manifest::embedded()?;
    let spec = manifest.model(id, Role::Recognizer)?;
    let template = spec.template.unwrap_or(ARCFACE_TEMPLATE);
    if spec.input_size != [CROP_SIZE, CROP_SIZE] || template != ARCFACE_TEMPLATE {
        return Err(FaceError::Config(format!(
            "{id} expects faces aligned differently from the stored crops (112x112, ArcFace \
             template): its students must be re-enrolled"
        )));
    }
    let path = verify_model_file(model_dir, spec)?;
    Recognizer::load(spec, &path, threads)
}

/// Embeds every stored crop missing an embedding of `recognizer`, `batch` at a time.
pub async fn reembed(
    store: &dyn Store,
    key: &DataKey,
    recognizer: Arc<Recognizer>,
    batch: usize,
    bar: &ProgressBar,
) -> Result<ReembedReport, ReembedError> {
    let model = recognizer.id().to_owned();
    let before = store.model_coverage(&model).await?;
    bar.set_length(u64::try_from(before.pending).unwrap_or(0));
    let (mut embedded, mut unreadable, mut after) = (0u64, 0u64, 0);
    loop {
        let crops = store.crops_to_embed(&model, after, batch.max(1)).await?;
        let Some(last) = crops.last() else { break };
        after = last.template_id;
        let mut ids = Vec::with_capacity(crops.len());
        let mut images = Vec::with_capacity(crops.len());
        for crop in &crops {
            let image = key
                .open(&crop.sealed_crop, &crop_aad(crop.teacher_id))
                .map_err(|e| e.to_string())
                .and_then(|jpeg| decode_crop(&jpeg).map_err(|e| e.to_string()));
            match image {
                Ok(image) => {
                    ids.push(crop.template_id);
                    images.push(image);
                }
                Err(cause) => {
                    tracing::warn!(template = crop.template_id, %cause, "skipped a crop");
                    unreadable += 1;
                    bar.inc(1);
                }
            }
        }
        let rec = recognizer.clone();
        let embeddings = span_blocking(move || rec.embed_aligned(&images))
            .await
            .map_err(|e| ReembedError::Worker(e.to_string()))??;
        for (id, embedding) in ids.into_iter().zip(embeddings) {
            if store.add_template_embedding(id, &model, &embedding).await? {
                embedded += 1;
            }
            bar.inc(1);
        }
    }
    bar.finish();
    Ok(ReembedReport {
        embedded,
        unreadable,
        coverage: store.model_coverage(&model).await?,
    })
}

/// The command: connects the database of `settings`, runs [`reembed`] with a progress bar
/// on stderr and prints what to do next.
pub async fn run(
    settings: &Settings,
    recognizer: &str,
    batch: usize,
    model_dir: PathBuf,
) -> Result<ReembedReport, ReembedError> {
    let store = crate::app::connect_store(settings).await?;
    let key = DataKey::from_bytes(&settings.resolve_data_key()?);
    let threads = settings
        .vision
        .threads
        .unwrap_or_else(rollcall_face::default_threads);
    let id = recognizer.to_owned();
    let model = span_blocking(move || load_recognizer(&model_dir, &id, threads))
        .await
        .map_err(|e| ReembedError::Worker(format!("model loading failed: {e}")))??;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} templates, {per_sec}, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = reembed(store.as_ref(), &key, Arc::new(model), batch, &bar).await?;
    let c = report.coverage;
    println!(
        "embedded {} templates with {recognizer}; {} unreadable; {} of {} students have a \
         template of {recognizer}",
        report.embedded, report.unreadable, c.covered, c.students
    );
    if report.complete() {
        println!(
            "every student can be recognised with {recognizer}: set \
             ROLLCALL_RECOGNIZER={recognizer} and restart the service to switch over"
        );
    } else {
        println!(
            "{} students have no template of {recognizer} ({} templates have no stored crop): \
             add a photo of each (or re-enrol them), run this again, and keep \
             ROLLCALL_RECOGNIZER as it is until then",
            c.students - c.covered,
            c.without_crop
        );
    }
    Ok(report)
}

/// `job` on a blocking thread, inside the caller's tracing span.
fn span_blocking<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(job))
}
