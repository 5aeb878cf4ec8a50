-- The OGC GeoPackage 1.4 core that makes this SQLite file a standard GeoPackage,
-- so QGIS, GDAL (`ogrinfo`) and any other GeoPackage reader open it as it is.
-- Table definitions follow the specification (http://www.geopackage.org/spec/),
-- spelled as GDAL writes them so GDAL's own checks find what they expect.
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.

-- 'GPKG' in the SQLite header's application id, and the specification version
-- 1.4.0 as user_version: how readers recognise a GeoPackage without opening a table.
PRAGMA application_id = 0x47504B47;
PRAGMA user_version = 10400;

-- Coordinate reference systems that geometries refer to by srs_id. The
-- specification requires the two "undefined" rows and EPSG:4326; imgis stores
-- every geometry in EPSG:4326 (longitude/latitude order inside the geometry blobs,
-- as the GeoPackage binary format always has it, whatever the WKT's axis order says).
CREATE TABLE gpkg_spatial_ref_sys (
    srs_name                 TEXT NOT NULL,
    srs_id                   INTEGER NOT NULL PRIMARY KEY,
    organization             TEXT NOT NULL,
    organization_coordsys_id INTEGER NOT NULL,
    definition               TEXT NOT NULL,
    description              TEXT
);

INSERT INTO gpkg_spatial_ref_sys VALUES
    ('Undefined Cartesian SRS', -1, 'NONE', -1, 'undefined',
     'undefined Cartesian coordinate reference system'),
    ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined',
     'undefined geographic coordinate reference system'),
    ('WGS 84 geodetic', 4326, 'EPSG', 4326,
     'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
     'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');

-- The table of contents: one row per layer table. Readers list layers from here,
-- take `identifier` as the layer's title and the min/max columns as its extent
-- (kept current by every imgis write).
CREATE TABLE gpkg_contents (
    table_name  TEXT NOT NULL PRIMARY KEY,
    data_type   TEXT NOT NULL,
    identifier  TEXT UNIQUE,
    description TEXT DEFAULT '',
    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    min_x       DOUBLE,
    min_y       DOUBLE,
    max_x       DOUBLE,
    max_y       DOUBLE,
    srs_id      INTEGER,
    CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);

-- The geometry column of each feature table, with its declared geometry type.
CREATE TABLE gpkg_geometry_columns (
    table_name         TEXT NOT NULL,
    column_name        TEXT NOT NULL,
    geometry_type_name TEXT NOT NULL,
    srs_id             INTEGER NOT NULL,
    z                  TINYINT NOT NULL,
    m                  TINYINT NOT NULL,
    CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
    CONSTRAINT uk_gc_table_name UNIQUE (table_name),
    CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents (table_name),
    CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);

-- Registry of the extensions this file uses; readers check it before trusting
-- any non-core table. imgis uses only the schema extension below (and, on
-- purpose, not the R-tree extension: its triggers call SQL functions that only
-- GDAL defines, so our own inserts would fail).
CREATE TABLE gpkg_extensions (
    table_name     TEXT,
    column_name    TEXT,
    extension_name TEXT NOT NULL,
    definition     TEXT NOT NULL,
    scope          TEXT NOT NULL,
    CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
);

-- The schema extension: describes columns. imgis registers each layer's
-- `properties` column with mime_type application/json, which GDAL and QGIS read
-- as a JSON field rather than an opaque string.
CREATE TABLE gpkg_data_columns (
    table_name      TEXT NOT NULL,
    column_name     TEXT NOT NULL,
    name            TEXT,
    title           TEXT,
    description     TEXT,
    mime_type       TEXT,
    constraint_name TEXT,
    CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
    CONSTRAINT gdc_tn UNIQUE (table_name, name)
);

-- Required by the schema extension alongside gpkg_data_columns; imgis defines no
-- column constraints, so it stays empty.
CREATE TABLE gpkg_data_column_constraints (
    constraint_name  TEXT NOT NULL,
    constraint_type  TEXT NOT NULL,
    value            TEXT,
    min              NUMERIC,
    min_is_inclusive BOOLEAN,
    max              NUMERIC,
    max_is_inclusive BOOLEAN,
    description      TEXT,
    CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value)
);

INSERT INTO gpkg_extensions VALUES
    ('gpkg_data_columns', NULL, 'gpkg_schema',
     'http://www.geopackage.org/spec/#extension_schema', 'read-write'),
    ('gpkg_data_column_constraints', NULL, 'gpkg_schema',
     'http://www.geopackage.org/spec/#extension_schema', 'read-write');
