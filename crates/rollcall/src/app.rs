//! Wiring: settings -> backends -> [`AppState`] -> router -> a bound listener.
//!
//! [`Application::build`] connects everything (running the store's migrations) and binds
//! the listener, so that tests can bind port 0 and read [`Application::port`] before
//! serving with [`Application::run_until_stopped`].

use std::net::SocketAddr;
use std::sync::Arc;

use std::future::Future;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::config::{ConfigError, HardeningSettings, Settings};
pub use crate::http::AppState;
use crate::kv::{self, KvError};
use crate::mail::{self, MailError};
use crate::store::{self, Store, StoreError, StoreOptions};
use crate::vision::Vision;

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Invalid settings (e.g. the JWT secret).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The key-value store could not be reached.
    #[error("key-value store: {0}")]
    Kv(#[from] KvError),
    /// The mailer could not be configured.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    /// The face models could not be loaded (missing file, bad checksum, no ONNX Runtime).
    #[error("face engine: {0}")]
    Vision(#[from] rollcall_face::FaceError),
    /// Binding or serving failed.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Opens the database named by the settings (creating the SQLite file and the data
/// directory if needed) and applies pending migrations.
pub async fn connect_store(settings: &Settings) -> Result<Arc<dyn Store>, AppError> {
    if settings.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| ConfigError::Invalid {
            name: "ROLLCALL_DATA_DIR",
            reason: format!("cannot create {}: {e}", settings.data_dir.display()),
        })?;
    }
    let options = StoreOptions {
        max_connections: settings.database_max_connections,
        acquire_timeout: settings.backend_timeout,
    };
    let store = store::connect(&settings.database_url, &options).await?;
    store.migrate().await?;
    Ok(store)
}

/// Loads the face models named by the settings, off the async runtime.
pub async fn load_vision(settings: &Settings) -> Result<Arc<Vision>, AppError> {
    let settings = settings.clone();
    let span = tracing::Span::current();
    let vision = tokio::task::spawn_blocking(move || span.in_scope(|| Vision::load(&settings)))
        .await
        .map_err(|e| rollcall_face::FaceError::Runtime(format!("model loading failed: {e}")))??;
    Ok(Arc::new(vision))
}

/// Warns when some students have no face template of the configured recognizer: they can
/// no longer be recognised (a recognizer changed before `rollcall models reembed` finished).
async fn warn_about_coverage(store: &dyn Store, recognizer: &str) -> Result<(), AppError> {
    let coverage = store.model_coverage(recognizer).await?;
    if coverage.covered < coverage.students {
        tracing::warn!(
            recognizer,
            students = coverage.students,
            without_template = coverage.students - coverage.covered,
            "some students have no face template of the configured recognizer and cannot be \
             recognised: run `rollcall models reembed --recognizer {recognizer}` (or switch \
             ROLLCALL_RECOGNIZER back)"
        );
    }
    Ok(())
}

/// A built application: backends connected, listener bound.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    limits: HardeningSettings,
}

impl Application {
    /// Connects the store (running migrations), the key-value store and the mailer, loads
    /// the face models, and binds `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, AppError> {
        Self::build_with(settings, true).await
    }

    /// [`Application::build`], but the face models are loaded by the first photo
    /// ([`Vision::lazy`]): tests that send none never load them.
    pub async fn build_lazy(settings: Settings) -> Result<Self, AppError> {
        Self::build_with(settings, false).await
    }

    async fn build_with(settings: Settings, load_models: bool) -> Result<Self, AppError> {
        settings.check_mail_delivery()?;
        let store = connect_store(&settings).await?;
        let kv = kv::connect_with_prefix(
            settings.redis_url.as_deref(),
            settings.backend_timeout,
            &settings.kv_prefix,
        )
        .await?;
        let mailer = mail::from_config(
            settings.smtp_url.as_deref(),
            settings.smtp_ca_file.as_deref(),
            &settings.mail_from,
            settings.mail_timeout,
        )?;
        let vision = if load_models {
            load_vision(&settings).await?
        } else {
            Arc::new(Vision::lazy(&settings)?)
        };
        warn_about_coverage(store.as_ref(), vision.recognizer_id()).await?;
        let state = AppState::new(settings, store, kv, mailer, vision)?;
        Self::bind(state).await
    }

    /// Binds the listener for an already built state.
    pub async fn bind(state: AppState) -> Result<Self, AppError> {
        let bind = state.settings.bind;
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| AppError::Io { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| AppError::Io { addr: bind, source })?;
        let limits = state.settings.hardening.clone();
        let router = crate::http::router(state);
        Ok(Self {
            listener,
            addr,
            router,
            limits,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until Ctrl-C or SIGTERM, then lets in-flight requests finish within the
    /// grace period.
    pub async fn run_until_stopped(self) -> Result<(), AppError> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves HTTP/1.1 until `stop` resolves, then stops accepting, lets in-flight requests
    /// finish for at most `ROLLCALL_SHUTDOWN_GRACE_SECONDS` and cuts the connections left.
    ///
    /// At most `ROLLCALL_MAX_CONNECTIONS` connections are served at once (further clients
    /// wait in the listen backlog, so the process never runs out of file descriptors), and
    /// a client that does not send a request's headers within
    /// `ROLLCALL_HEADER_READ_TIMEOUT_SECONDS` (including an idle keep-alive connection) is
    /// disconnected.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> Result<(), AppError> {
        let Self {
            listener,
            addr,
            router,
            limits,
        } = self;
        tracing::info!(%addr, max_connections = limits.max_connections, "listening");
        let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout);
        let mut stop = std::pin::pin!(stop);
        loop {
            // A slot first: beyond the limit, clients wait in the kernel's backlog.
            let slot = tokio::select! {
                () = &mut stop => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            };
            let (stream, remote) = tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // E.g. EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            let router = router.clone();
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(remote));
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            connections.spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, %remote, "connection ended with an error");
                }
                drop(slot);
            });
        }
        drop(listener);
        let open = connections.len();
        tracing::info!(open, grace = ?limits.shutdown_grace, "shutting down: finishing in-flight requests");
        let drained = tokio::time::timeout(limits.shutdown_grace, async {
            graceful.shutdown().await;
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                cut = connections.len(),
                "grace period over: closing the connections still open"
            );
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
