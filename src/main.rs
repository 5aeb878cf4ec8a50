//! The `imgis` command: reads the configuration and calls the library.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;

use imgis::app::{self, App};
use imgis::auth::{NewToken, Role, TokenSecret};
use imgis::config::{
    CatalogArgs, CatalogCommand, Cli, Command, Config, ExportArgs, FileConfig, ImportArgs,
    StoreConfig, TilesArgs, TilesCommand, TokenArgs, TokenCommand, DEFAULT_DEMO_PARCELS,
};
use imgis::demo::DemoOptions;
use imgis::import::report::ImportParams;
use imgis::import::Outcome;
use imgis::index::LayerIndex;
use imgis::tiles::archive::{self, ExportRequest, LonLatBbox};
use imgis::tiles::{TileOptions, ZoomRange};

fn main() -> std::process::ExitCode {
    init_logs();
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

/// Logs to stderr, filtered by `IMGIS_LOG`: plain text, or one JSON object
/// per line with `IMGIS_LOG_FORMAT=json` (for a log collector), each line
/// carrying the fields of its request's span (`request_id`, route, status …).
fn init_logs() {
    let filter = || EnvFilter::try_from_env("IMGIS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("IMGIS_LOG_FORMAT").unwrap_or_default();
    if format.eq_ignore_ascii_case("json") {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            // The request's span, fields included; not the list of every span above it.
            .with_current_span(true)
            .with_span_list(false)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        // Colours for a person at a terminal, plain text for journald and log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if !format.is_empty() && !format.eq_ignore_ascii_case("text") {
        tracing::warn!(IMGIS_LOG_FORMAT = %format, "unknown log format (json or text): logging text");
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
        Command::Import(args) => import_file(args, &file).await?,
        Command::Token(TokenArgs { command }) => token_command(command, &file).await?,
        Command::Tiles(TilesArgs {
            command: TilesCommand::Export(args),
        }) => export_tiles(args, &file).await?,
        Command::Catalog(CatalogArgs { command }) => match command {
            CatalogCommand::Check { file: path } => {
                let (catalog, _) = app::catalog::read_catalog_file(&path)?;
                println!(
                    "{}: valid; {} departments, {} zone types, {} buffer rules, {} services, \
                     {} life situations, {} rules, {} holidays",
                    path.display(),
                    catalog.departments.len(),
                    catalog.zone_types.len(),
                    catalog.buffer_rules.len(),
                    catalog.services.len(),
                    catalog.life_situations.len(),
                    catalog.rules.len(),
                    catalog.calendar.holidays.len()
                );
            }
            CatalogCommand::Load { file: path, store } => {
                let store = app::open_store(&StoreConfig::resolve(store, &file)).await?;
                let loaded = app::catalog::load_catalog_file(&store, &path).await?;
                println!(
                    "catalog {} stored as revision {} in the {} store at {}; \
                     servers use it from their next start",
                    path.display(),
                    loaded.revision.revision,
                    store.backend(),
                    store.location()
                );
            }
        },
    }
    Ok(())
}

/// `imgis token create|list|revoke`: the store's API tokens. The secret is
/// printed once, on stdout alone, so `TOKEN=$(imgis token create …)` works.
async fn token_command(command: TokenCommand, file: &FileConfig) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            role,
            department,
            label,
            store,
        } => {
            let role: Role = role.parse()?;
            let secret = TokenSecret::generate();
            let new = NewToken::new(&secret, role, department, label)?;
            let store = app::open_store(&StoreConfig::resolve(store, file)).await?;
            let made = store.create_token(&new).await?;
            eprintln!(
                "token {} ({}{}) stored in the {} store at {}; it is shown once, keep it secret:",
                made.id,
                made.role,
                made.department
                    .as_deref()
                    .map(|d| format!(", department {d}"))
                    .unwrap_or_default(),
                store.backend(),
                store.location()
            );
            println!("{}", secret.expose());
        }
        TokenCommand::List { json, store } => {
            let store = app::open_store(&StoreConfig::resolve(store, file)).await?;
            let tokens = store.tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!("id\tprefix\trole\tdepartment\tcreated\trevoked\tlabel");
                for t in tokens {
                    println!(
                        "{}\t{}…\t{}\t{}\t{}\t{}\t{}",
                        t.id,
                        t.prefix,
                        t.role,
                        t.department.as_deref().unwrap_or("-"),
                        t.created_at.format("%Y-%m-%d %H:%M"),
                        t.revoked_at
                            .map(|r| r.format("%Y-%m-%d %H:%M").to_string())
                            .unwrap_or_else(|| "-".into()),
                        t.label
                    );
                }
            }
        }
        TokenCommand::Revoke { id, store } => {
            let store = app::open_store(&StoreConfig::resolve(store, file)).await?;
            let t = store.revoke_token(id).await?;
            println!(
                "token {} ({}…, {}) revoked at {}; servers refuse it within {} s",
                t.id,
                t.prefix,
                t.role,
                t.revoked_at.map(|r| r.to_rfc3339()).unwrap_or_default(),
                app::auth::TOKEN_TTL.as_secs()
            );
        }
    }
    Ok(())
}

/// `imgis tiles export`: the layers read from the store into an index, then
/// written into an archive off the async runtime, with a progress bar for a
/// person at a terminal and one summary line for everyone.
async fn export_tiles(args: ExportArgs, file: &FileConfig) -> anyhow::Result<()> {
    let ExportArgs {
        store,
        layers,
        minzoom,
        maxzoom,
        bbox,
        out,
        quiet,
    } = args;
    // What can be refused is refused before the store is read.
    archive::check_zoom_range(minzoom, maxzoom)?;
    let bbox = bbox.as_deref().map(str::parse::<LonLatBbox>).transpose()?;
    let store = app::open_store(&StoreConfig::resolve(store, file)).await?;
    let chosen = archive::select_layers(&store.layers().await?, &layers)?;
    let mut indexed = Vec::with_capacity(chosen.len());
    for layer in chosen {
        let features = store.features(layer.code()).await?;
        let zoom = ZoomRange::of_layer(layer.code(), layer.spec.kind, &file.layer_zoom);
        let index = tokio::task::spawn_blocking(move || LayerIndex::build(layer, features)).await?;
        indexed.push((Arc::new(index), zoom));
    }
    let request = ExportRequest {
        layers: indexed,
        minzoom,
        maxzoom,
        bbox,
        // The server's own tiles, so that an archive and the live map agree.
        options: TileOptions::default(),
        out,
    };
    let bar = if quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template("{wide_bar} {pos}/{len} tiles  {per_sec}  ETA {eta}")
                .expect("the template is a constant that parses"),
        )
    };
    let shown = bar.clone();
    let summary = tokio::task::spawn_blocking(move || {
        archive::export(&request, &|done, total| {
            shown.set_length(total);
            shown.set_position(done);
        })
    })
    .await??;
    bar.finish_and_clear();
    println!(
        "{} tiles, {:.1} MB written to {} in {:.1} s ({} empty tiles skipped)",
        summary.tiles,
        summary.bytes as f64 / 1_048_576.0,
        summary.path.display(),
        summary.seconds,
        summary.empty
    );
    Ok(())
}

/// `imgis import`: the file read, checked and written into the store in one
/// transaction, with a progress bar (features, MB/s) for a person at a
/// terminal, then the report. Exits non-zero when the import was rejected.
async fn import_file(args: ImportArgs, file: &FileConfig) -> anyhow::Result<()> {
    let ImportArgs {
        file: path,
        layer,
        department,
        kind,
        srs,
        mode,
        invalid,
        dry_run,
        internal,
        source_layer,
        format,
        cadastral_field,
        wkt_column,
        lon_column,
        lat_column,
        city_bbox,
        max_import_features,
        quiet,
        json,
        store,
    } = args;
    let options = ImportParams {
        department,
        kind,
        srs,
        mode: Some(mode),
        invalid: Some(invalid),
        dry_run: Some(dry_run),
        internal: Some(internal),
        source_layer,
        format,
        cadastral_field,
        wkt_column,
        lon_column,
        lat_column,
        filename: None,
    }
    .into_options(&layer)
    .map_err(anyhow::Error::msg)?;
    let bounds = imgis::config::resolve_city_bbox(city_bbox, file)?;
    let max_features = imgis::config::resolve_max_import_features(max_import_features, file)?;
    let store = app::open_store(&StoreConfig::resolve(store, file)).await?;
    let bar = if quiet || json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{wide_bar} {binary_bytes}/{binary_total_bytes}  {binary_bytes_per_sec}  {msg}",
            )
            .expect("the template is a constant that parses"),
        )
    };
    let shown = bar.clone();
    let started = std::time::Instant::now();
    let progress: app::imports::ProgressFn = Arc::new(move |p: imgis::import::Progress| {
        shown.set_length(p.total_bytes);
        shown.set_position(p.bytes);
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        shown.set_message(format!(
            "{} features ({:.0}/s)",
            p.features,
            p.features as f64 / secs
        ));
    });
    let (report, _) = app::imports::import_into_store(
        &store,
        path,
        options,
        bounds,
        max_features,
        Default::default(),
        progress,
    )
    .await?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for issue in &report.issues {
            println!(
                "feature {}: {} ({}): {}",
                issue.index,
                serde_json::to_value(issue.action)?.as_str().unwrap_or("?"),
                issue.problem,
                issue.reason
            );
        }
        if report.issues_not_listed > 0 {
            println!("… and {} more not listed", report.issues_not_listed);
        }
        for note in &report.notes {
            println!("note: {note}");
        }
        println!(
            "{} ({}, {}, CRS {} from {}) into {} store at {}",
            report.summary(),
            report.file,
            report.format,
            report.source_crs,
            report.crs_from,
            store.backend(),
            store.location()
        );
        if report.outcome == Outcome::Imported {
            println!("running servers on this store show the new version within seconds");
        }
    }
    if report.outcome == Outcome::Rejected {
        anyhow::bail!(
            "{} feature(s) refused and the policy is 'reject': nothing was imported \
             (--invalid skip leaves them out, --invalid repair makes what it can valid)",
            report.rejected
        );
    }
    Ok(())
}
