-- Catalog revisions, and applications with their approval tasks and history.
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.
-- Coordinates are EPSG:4326, longitude/latitude order (CRS84 axis order, as GeoJSON).
-- The status, action and decision spellings are those of src/store/rows.rs.

-- Every catalog document imgis was started with, so an application can cite the
-- rules it was routed by (applications.catalog_revision) after the catalog changed.
CREATE TABLE catalogs (
    -- 1, 2, 3 … in save order.
    revision  bigint PRIMARY KEY CHECK (revision > 0),
    -- Where the document came from: a file path, or 'built in'.
    source    text NOT NULL,
    -- The TOML document as loaded.
    text      text NOT NULL,
    loaded_at timestamptz NOT NULL
);

CREATE TABLE applications (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target_kind      text NOT NULL CHECK (target_kind IN ('service', 'life_situation')),
    target_code      text NOT NULL,
    status           text NOT NULL CHECK (status IN
                     ('received', 'in_progress', 'revision_required',
                      'approved', 'approved_with_comments', 'rejected')),
    -- Calendar dates of the city.
    submitted        date NOT NULL,
    due              date NOT NULL,
    -- The stored parcel applied for; NULL for an applicant-drawn area. Not a
    -- foreign key: the parcel layer is replaced by imports, the application stays.
    cadastral        text CHECK (cadastral ~ '^[0-9]{2}:[0-9]{2}:[0-9]{6,7}:[0-9]{1,9}$'),
    geom             geometry(MultiPolygon, 4326) NOT NULL,
    plot             jsonb NOT NULL,
    -- Personal data: never public, never logged.
    applicant        jsonb NOT NULL,
    description      text,
    -- Not a foreign key: a catalog built into the binary may not have been stored.
    catalog_revision bigint NOT NULL,
    -- Routing's whole answer at registration, kept for audit.
    route            jsonb NOT NULL,
    -- Up by one with every change; a decision is stored only on the revision it was made from.
    revision         bigint NOT NULL DEFAULT 1 CHECK (revision > 0),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    closed_at        timestamptz
);

-- Lists are newest first (the primary key serves the unfiltered one) and filter by status.
CREATE INDEX applications_status_idx ON applications (status, id DESC);
CREATE INDEX applications_created_idx ON applications (created_at DESC, id DESC);

CREATE TABLE application_tasks (
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- 1, 2, 3 … in routing order.
    task_no        integer NOT NULL CHECK (task_no > 0),
    service        text NOT NULL,
    -- Mapped to StoreError::UnknownDepartment by its default name, application_tasks_department_fkey.
    department     text NOT NULL REFERENCES departments (code),
    action         text NOT NULL CHECK (action IN ('consult', 'approve', 'block')),
    start          date NOT NULL,
    due            date NOT NULL,
    status         text NOT NULL CHECK (status IN
                   ('pending', 'approved', 'approved_with_comments',
                    'revision_required', 'rejected', 'cancelled')),
    comment        text,
    decided_at     timestamptz,
    -- Why routing gave the department this task (rules, zones, overlaps).
    reasons        jsonb NOT NULL,
    PRIMARY KEY (application_id, task_no)
);

-- A department's work list.
CREATE INDEX application_tasks_department_idx ON application_tasks (department, application_id);
-- Overdue lists look only at open tasks, few of all once the city has a history.
CREATE INDEX application_tasks_open_due_idx ON application_tasks (due, application_id)
    WHERE status IN ('pending', 'revision_required');

-- What happened to an application, oldest first. `department` is copied from
-- the task, which already holds the foreign key.
CREATE TABLE application_events (
    application_id bigint NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- 1, 2, 3 … per application.
    seq            integer NOT NULL CHECK (seq > 0),
    at             timestamptz NOT NULL,
    -- The application's status after the event.
    status         text NOT NULL CHECK (status IN
                   ('received', 'in_progress', 'revision_required',
                    'approved', 'approved_with_comments', 'rejected')),
    task_no        integer,
    department     text,
    decision       text CHECK (decision IN
                   ('approved', 'approved_with_comments', 'revision_required', 'rejected')),
    comment        text,
    PRIMARY KEY (application_id, seq)
);
