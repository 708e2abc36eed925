//! `graph-sim`: the Microsoft Graph sendMail and managed identity simulator on a socket.

use clap::Parser;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    graph_sim::cli::run(graph_sim::cli::Cli::parse()).await
}
