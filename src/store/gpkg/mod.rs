//! GeoPackage backend.
