//! `graph-sim`: the Microsoft Graph sendMail and managed identity simulator on a socket.

use std::io::Write;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use mailgate::sim::{Sim, SimConfig, read_json_file, serve, shutdown_signal};

#[derive(Parser, Debug)]
#[command(name = "graph-sim", about = "Microsoft Graph sendMail and managed identity simulator")]
struct Cli {
    #[arg(long, env = "GRAPH_SIM_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[arg(long, env = "GRAPH_SIM_IDENTITY_HEADER", default_value_t = SimConfig::default().identity_header)]
    identity_header: String,
    #[arg(long, default_value_t = SimConfig::default().app_id)]
    app_id: String,
    #[arg(long, default_value_t = 3600)]
    token_ttl_secs: u64,
    /// JSON array of policies: [{"app_id","access_right","scope"}]
    #[arg(long)]
    policies: Option<PathBuf>,
    /// JSON array of mailbox addresses that exist (default: every mailbox exists)
    #[arg(long)]
    mailboxes: Option<PathBuf>,
    /// Log each request without its body and `Authorization` header (for long benchmark runs).
    #[arg(long, env = "GRAPH_SIM_LIGHT_LOG")]
    light_log: bool,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let sim = Sim::new(SimConfig {
        identity_header: cli.identity_header,
        app_id: cli.app_id,
        token_ttl: Duration::from_secs(cli.token_ttl_secs),
        light_log: cli.light_log,
        ..SimConfig::default()
    });
    if let Some(path) = &cli.policies {
        sim.set_policies(read_json_file(path)?);
    }
    if let Some(path) = &cli.mailboxes {
        sim.set_mailboxes(Some(read_json_file(path)?));
    }
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "graph-sim listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    serve(listener, sim, shutdown_signal()).await
}
