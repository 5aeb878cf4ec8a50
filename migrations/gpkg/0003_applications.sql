-- Catalog revisions, and applications with their approval tasks and history:
-- the same tables and meaning as migrations/postgis/0002_applications.sql.
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.
-- The status, action and decision spellings are those of src/store/rows.rs.
--
-- Dates are ISO 8601 text (2024-05-01), so comparing them as text compares
-- them as dates; timestamps are RFC 3339 UTC text with microseconds
-- (2024-05-01T10:00:00.123456Z), as imgis_layers.updated_at.

-- Every catalog document imgis was started with, so an application can cite the
-- rules it was routed by (imgis_applications.catalog_revision) after the catalog changed.
CREATE TABLE imgis_catalogs (
    -- 1, 2, 3 … in save order.
    revision  INTEGER NOT NULL PRIMARY KEY CHECK (revision > 0),
    -- Where the document came from: a file path, or 'built in'.
    source    TEXT NOT NULL,
    -- The TOML document as loaded.
    text      TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);

CREATE TABLE imgis_applications (
    -- AUTOINCREMENT: an id cited in a letter to the applicant names one
    -- application forever, even if a later one is deleted by hand.
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    target_kind      TEXT NOT NULL CHECK (target_kind IN ('service', 'life_situation')),
    target_code      TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                     ('received', 'in_progress', 'revision_required',
                      'approved', 'approved_with_comments', 'rejected')),
    -- Calendar dates of the city.
    submitted        TEXT NOT NULL CHECK (submitted GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    due              TEXT NOT NULL CHECK (due GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    -- The stored parcel applied for; NULL for an applicant-drawn area. Not a
    -- reference to imgis_cadastre: imports replace parcels, the application stays.
    cadastral        TEXT,
    -- The plot: a GeoPackage geometry blob (srs_id 4326, lon/lat degrees) of a
    -- MULTIPOLYGON. This is not a feature table (applications hold personal
    -- data and are no map layer), so the column is not in gpkg_geometry_columns.
    geom             BLOB NOT NULL,
    -- JSON text.
    plot             TEXT NOT NULL,
    -- JSON text. Personal data: never public, never logged.
    applicant        TEXT NOT NULL,
    description      TEXT,
    -- Not a reference: a catalog built into the binary may not have been stored.
    catalog_revision INTEGER NOT NULL,
    -- JSON text: routing's whole answer at registration, kept for audit.
    route            TEXT NOT NULL,
    -- Up by one with every change; a decision is stored only on the revision it was made from.
    revision         INTEGER NOT NULL DEFAULT 1 CHECK (revision > 0),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    closed_at        TEXT
);

-- Lists are newest first (the primary key serves the unfiltered one) and filter by status.
CREATE INDEX imgis_applications_status_idx ON imgis_applications (status, id DESC);
CREATE INDEX imgis_applications_created_idx ON imgis_applications (created_at DESC, id DESC);

CREATE TABLE imgis_application_tasks (
    application_id INTEGER NOT NULL REFERENCES imgis_applications (id) ON DELETE CASCADE,
    -- 1, 2, 3 … in routing order.
    task_no        INTEGER NOT NULL CHECK (task_no > 0),
    service        TEXT NOT NULL,
    department     TEXT NOT NULL REFERENCES imgis_departments (code),
    action         TEXT NOT NULL CHECK (action IN ('consult', 'approve', 'block')),
    start          TEXT NOT NULL CHECK (start GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    due            TEXT NOT NULL CHECK (due GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    status         TEXT NOT NULL CHECK (status IN
                   ('pending', 'approved', 'approved_with_comments',
                    'revision_required', 'rejected', 'cancelled')),
    comment        TEXT,
    decided_at     TEXT,
    -- JSON text: why routing gave the department this task (rules, zones, overlaps).
    reasons        TEXT NOT NULL,
    PRIMARY KEY (application_id, task_no)
);

-- A department's work list.
CREATE INDEX imgis_application_tasks_department_idx
    ON imgis_application_tasks (department, application_id);
-- Overdue lists look only at open tasks, few of all once the city has a history.
CREATE INDEX imgis_application_tasks_open_due_idx ON imgis_application_tasks (due, application_id)
    WHERE status IN ('pending', 'revision_required');

-- What happened to an application, oldest first. `department` is copied from
-- the task, which already holds the reference.
CREATE TABLE imgis_application_events (
    application_id INTEGER NOT NULL REFERENCES imgis_applications (id) ON DELETE CASCADE,
    -- 1, 2, 3 … per application.
    seq            INTEGER NOT NULL CHECK (seq > 0),
    at             TEXT NOT NULL,
    -- The application's status after the event.
    status         TEXT NOT NULL CHECK (status IN
                   ('received', 'in_progress', 'revision_required',
                    'approved', 'approved_with_comments', 'rejected')),
    task_no        INTEGER,
    department     TEXT,
    decision       TEXT CHECK (decision IN
                   ('approved', 'approved_with_comments', 'revision_required', 'rejected')),
    comment        TEXT,
    PRIMARY KEY (application_id, seq)
);

-- Only the catalogs are registered as an attribute table: GDAL and QGIS list
-- the registered tables of a GeoPackage, and applications carry applicants'
-- personal data, which a GIS user browsing the city's layers has no business
-- seeing. Unregistered, they stay out of every layer list.
INSERT INTO gpkg_contents (table_name, data_type, identifier, description) VALUES
    ('imgis_catalogs', 'attributes', 'imgis catalogs',
     'imgis: every catalog document loaded, by revision');
