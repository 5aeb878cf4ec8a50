//! PostGIS backend.
