//! Serving the simulator on a socket.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Sim;
use super::conn::{ConnHandle, KillableListener};

/// A simulator serving on loopback; the server task is aborted when this drops.
pub struct SimHandle {
    pub sim: Sim,
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The managed identity endpoint, for `IDENTITY_ENDPOINT`.
    pub fn identity_endpoint(&self) -> String {
        format!("{}/msi/token", self.base_url())
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `sim` on `listener` until `shutdown` completes.
pub async fn serve<F>(listener: TcpListener, sim: Sim, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let app = sim.router().into_make_service_with_connect_info::<ConnHandle>();
    axum::serve(KillableListener::new(listener), app).with_graceful_shutdown(shutdown).await
}

pub(super) async fn spawn(sim: Sim) -> io::Result<SimHandle> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let served = sim.clone();
    let task = tokio::spawn(async move {
        if let Err(err) = serve(listener, served, std::future::pending()).await {
            tracing::error!(error = %err, "graph simulator stopped");
        }
    });
    Ok(SimHandle { sim, addr, task })
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Read a JSON file into `T` (policies, mailbox lists).
pub fn read_json_file<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let text = std::fs::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}
