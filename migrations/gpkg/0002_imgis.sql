-- imgis's own tables beside the GeoPackage core: departments, the layer
-- registry with versions, and the store-wide cadastral number lookup.
-- Each layer's features live in a standard GeoPackage feature table named by the
-- layer code, created at run time by `create_layer` (not here: layers are data).
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.
-- The `imgis_` prefix is reserved: no layer code can take it.

-- The city's units and the external approvers (gas, power, Vodokanal, heritage …).
CREATE TABLE imgis_departments (
    code     TEXT NOT NULL PRIMARY KEY,
    name     TEXT NOT NULL,
    -- 1 for approvers outside the city administration.
    external INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1))
);

-- One row per layer. `version` goes up by one with every committed import or
-- edit, so answers can cite which data they came from and tile caches key on it.
CREATE TABLE imgis_layers (
    -- The same whitelist as imgis::model::LayerCode; also the feature table's name.
    code          TEXT NOT NULL PRIMARY KEY
                  CHECK (code GLOB '[a-z]*' AND code NOT GLOB '*[^a-z0-9_]*' AND length(code) <= 63),
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL CHECK (kind IN ('parcels', 'utilities', 'zones', 'other')),
    department    TEXT REFERENCES imgis_departments (code),
    geometry_type TEXT NOT NULL CHECK (geometry_type IN
                  ('POINT', 'LINESTRING', 'POLYGON', 'MULTIPOINT', 'MULTILINESTRING', 'MULTIPOLYGON', 'GEOMETRY')),
    public        INTEGER NOT NULL DEFAULT 1 CHECK (public IN (0, 1)),
    version       INTEGER NOT NULL DEFAULT 0,
    -- RFC 3339 UTC with microseconds (2024-05-01T10:00:00.123456Z); strictly
    -- increasing per layer, so "newer data" is never ambiguous.
    updated_at    TEXT NOT NULL,
    -- Kept by every write in the same transaction, so listing layers never scans
    -- a feature table (a parcel layer holds hundreds of thousands of rows).
    feature_count INTEGER NOT NULL DEFAULT 0
);

-- A cadastral number names one plot in the whole city, whatever layer holds it:
-- the primary key enforces that across layers, and `parcel(cadastral)` finds the
-- layer and feature without knowing which layer to search.
CREATE TABLE imgis_cadastre (
    cadastral TEXT NOT NULL PRIMARY KEY,
    layer     TEXT NOT NULL REFERENCES imgis_layers (code) ON DELETE CASCADE,
    fid       INTEGER NOT NULL
) WITHOUT ROWID;

-- Replacing a layer deletes its numbers by layer.
CREATE INDEX imgis_cadastre_layer_idx ON imgis_cadastre (layer);

-- Register the departments and the layer registry as GeoPackage attribute
-- (non-spatial) tables. Besides letting a GIS user see which layer is at which
-- version and who owns it, this matters to GDAL: while a GeoPackage has no
-- 'attributes' row in gpkg_contents, GDAL lists every table of the file as a
-- layer, sqlx's bookkeeping and the cadastre index included.
INSERT INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
    ('imgis_departments', 'attributes', 'imgis departments',
     'imgis: the city''s departments and external approvers'),
    ('imgis_layers', 'attributes', 'imgis layers',
     'imgis: every layer with its version, update time and feature count');
