//! The `imgis` command: reads the configuration and calls the library.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use imgis::app::{self, App};
use imgis::config::{Cli, Command, Config, FileConfig, StoreConfig, DEFAULT_DEMO_PARCELS};
use imgis::demo::DemoOptions;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("IMGIS_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text for journald and log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: "cannot connect to postgres://…: connection refused".
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { config, command } = cli;
    let file = FileConfig::load(config.as_deref())?;
    match command {
        Command::Serve(args) => {
            let config = Config::resolve_serve(args, &file)?;
            let listen = config.listen;
            let app = App::open(config).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            app::run(app, listener, app::shutdown_signal()).await?;
        }
        Command::Migrate(args) => {
            let store_config = StoreConfig::resolve(args, &file);
            let store = app::open_store(&store_config).await?;
            println!(
                "schema of {} store at {} is up to date",
                store.backend(),
                store.location()
            );
        }
        Command::Demo(args) => {
            let imgis::config::DemoArgs {
                store,
                parcels,
                seed,
            } = args;
            let store_config = StoreConfig::resolve(store, &file);
            let store = app::open_store(&store_config).await?;
            let options = DemoOptions {
                parcels: parcels
                    .or(file.demo_parcels)
                    .unwrap_or(DEFAULT_DEMO_PARCELS),
                seed,
            };
            let summary = app::load_demo(&store, options).await?;
            println!(
                "demo city: {} layers, {} features written to {} store at {}",
                summary.layers,
                summary.features,
                store.backend(),
                store.location()
            );
        }
        Command::Tiles(_) => anyhow::bail!("tile export is not written yet"),
    }
    Ok(())
}
