//! The `graph-sim` command line: its options, and running the simulator on a socket until a signal stops it.
//! The binary calls it, and so can a benchmark that wants the simulator in a process of its own.

use std::io::Write;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{Sim, SimConfig, read_json_file, serve, shutdown_signal};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "graph-sim", about = "Microsoft Graph sendMail and managed identity simulator")]
pub struct Cli {
    #[arg(long, env = "GRAPH_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    #[arg(long, env = "GRAPH_SIM_IDENTITY_HEADER", default_value_t = SimConfig::default().identity_header)]
    pub identity_header: String,
    #[arg(long, default_value_t = SimConfig::default().app_id)]
    pub app_id: String,
    #[arg(long, default_value_t = 3600)]
    pub token_ttl_secs: u64,
    /// JSON array of policies: [{"app_id","access_right","scope"}]
    #[arg(long)]
    pub policies: Option<PathBuf>,
    /// JSON array of the addresses (or object ids) of the mailboxes that exist; every other name is answered 404
    /// `ErrorInvalidUser`, as in a tenant (default: none, until added with `PUT /sim/mailboxes`)
    #[arg(long)]
    pub mailboxes: Option<PathBuf>,
    /// The resource Graph tokens are for; a token issued for any other is refused 401
    #[arg(long, default_value_t = SimConfig::default().graph_resource)]
    pub graph_resource: String,
    /// Log each request without its body and `Authorization` header (for long benchmark runs).
    #[arg(long, env = "GRAPH_SIM_LIGHT_LOG")]
    pub light_log: bool,
}

/// Serves until SIGINT or SIGTERM. Prints `graph-sim listening on http://ADDR` once it is listening.
pub async fn run(cli: Cli) -> std::io::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let sim = Sim::new(SimConfig {
        identity_header: cli.identity_header,
        app_id: cli.app_id,
        graph_resource: cli.graph_resource,
        token_ttl: Duration::from_secs(cli.token_ttl_secs),
        light_log: cli.light_log,
        ..SimConfig::default()
    });
    if let Some(path) = &cli.policies {
        sim.set_policies(read_json_file(path)?);
    }
    if let Some(path) = &cli.mailboxes {
        let mailboxes: Vec<String> = read_json_file(path)?;
        sim.set_mailboxes(&mailboxes);
    }
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "graph-sim listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    serve(listener, sim, shutdown_signal()).await
}
