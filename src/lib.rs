//! imgis: an integrated municipal geo-information system server.
//!
//! Layout, one domain per folder:
//! - [`model`]: departments, layers, features, cadastral numbers: the shared vocabulary.
//! - [`crs`]: coordinate reference systems over PROJ (storage EPSG:4326, metres in the city's CRS).
//! - [`catalog`]: the city's catalog as data (`data/catalog.toml`): departments, zone types,
//!   buffer rules, services, life situations, routing rules and the working-day calendar.
//! - [`import`]: readers of imported files (GeoJSON, Shapefile, GeoPackage, FlatGeobuf, CSV).
//! - [`store`]: the source of truth, PostGIS or an embedded GeoPackage, behind one trait.
//! - [`index`]: every layer in memory in an R-tree; all reads are answered from it.
//! - [`tiles`]: Mapbox Vector Tiles made from the index (clip, simplify, encode), the tile
//!   cache, and PMTiles archives.
//! - [`zones`]: protection zones derived from utility layers by the catalog's buffer rules.
//! - [`constraints`]: what restricts a plot (overlapping zones, in m² of the city's
//!   metric CRS), what is at a point, and the nearest utility lines; pure over the index.
//! - [`routing`]: which departments must act on an application for a service or life
//!   situation at a plot, with reasons, actions and due dates on the working-day calendar.
//! - [`applications`]: registered applications, their tasks and decisions, the status
//!   "most severe wins", and the statistics the city reports.
//! - [`features`]: pages of a layer's features (bbox, property filters, id order) for
//!   OGC API – Features, from the index.
//! - [`demo`]: the deterministic generator of a Kazan-like demo city.
//! - [`auth`]: API tokens (stored hashed), the four roles, and who may see or change what.
//! - [`config`]: command-line flags, `IMGIS_*` environment and the config file, merged in one place.
//! - [`app`]: opening the store, building the index, and running the HTTP server.
//! - [`api`]: the HTTP surface (axum): handlers, DTOs, and the one place status codes are chosen.
//! - [`metrics`]: what `/metrics` tells operators (requests, latency, tile cache, index,
//!   imports, the store's pool), and the request ids and spans of the logs.
//!
//! Data flows one way: store (one transaction) → index → HTTP. The index is a
//! derived copy, rebuilt from the store at every start.

pub mod api;
pub mod app;
pub mod applications;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod constraints;
pub mod crs;
pub mod demo;
pub mod features;
pub mod import;
pub mod index;
pub mod metrics;
pub mod model;
pub mod routing;
pub mod store;
pub mod tiles;
pub mod zones;
