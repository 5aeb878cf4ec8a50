-- Features partitioned by layer: one table per layer (features_l<layer id>),
-- so that an import builds a layer's indexes once, sorted, on a table of its
-- own, and swaps it in (ATTACH PARTITION) instead of updating one GiST index
-- shared by every layer row by row (8-10 s against ~1.6 s for 354 000 polygons).
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.
-- Coordinates are EPSG:4326, longitude/latitude order (CRS84 axis order, as GeoJSON).
--
-- The partitions are made and dropped by the store (src/store/postgis/partitions.rs),
-- never by hand: a layer's partition is created with its layer and dropped with it,
-- in the same transaction.
--
-- What changed from 0001:
-- - `features` is LIST-partitioned by layer_id. Its primary key is (layer_id, id):
--   a unique index of a partitioned table must hold the partition key. Ids still
--   come from one sequence, `features_id_seq`, which continues where the identity
--   of 0001 stopped, so an id still names one feature of the whole store and a
--   deleted id is never given again.
-- - A cadastral number is unique per layer by index (features_cadastral_idx,
--   on (cadastral, layer_id)), and store-wide by the store: every write that
--   can set numbers takes one advisory lock and looks for the number in other
--   layers before it commits (PostgreSQL has no unique index across partitions).
-- - `cadastral` has the "C" collation: the numbers are ASCII digits and colons,
--   and byte order sorts them several times faster when an import builds the index.
-- - No foreign key to layers: a feature's layer is its partition, which exists
--   exactly while the layer does. (A foreign key would make every partition swap
--   lock `layers` against all writes and re-check every row of the new partition.)

-- The columns and checks of a layer's partition. Never holds rows: the store makes
-- an import's new partition with CREATE TABLE … (LIKE features_template …), which
-- locks only this table, so an import that is still reading its file never holds
-- a lock on `features` that a finishing one would wait for.
CREATE SEQUENCE features_ids AS bigint;
-- Where the identity of 0001 stopped (its last value, and whether it was used).
SELECT setval('features_ids', last_value, is_called) FROM features_id_seq;

CREATE TABLE features_template (
    id         bigint NOT NULL DEFAULT nextval('features_ids'),
    layer_id   integer NOT NULL,
    geom       geometry(Geometry, 4326) NOT NULL,
    -- Set on parcels: region:district:quarter:plot, e.g. 16:50:011101:12.
    cadastral  text COLLATE "C" CONSTRAINT cadastral_format
               CHECK (cadastral ~ '^[0-9]{2}:[0-9]{2}:[0-9]{6,7}:[0-9]{1,9}$'),
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
               CONSTRAINT properties_object CHECK (jsonb_typeof(properties) = 'object')
);

-- Moved aside; its rows go to the partitions below, then it is dropped.
ALTER TABLE features RENAME TO features_unpartitioned;
ALTER TABLE features_unpartitioned DROP CONSTRAINT features_pkey;
DROP INDEX features_layer_idx, features_geom_idx, features_cadastral_idx;

CREATE TABLE features (LIKE features_template INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (layer_id);
ALTER SEQUENCE features_ids OWNED BY features.id;

-- One partition per existing layer, filled before the indexes exist, so that
-- each index is built once, sorted.
DO $$
DECLARE
    layer integer;
BEGIN
    FOR layer IN SELECT id FROM layers ORDER BY id LOOP
        EXECUTE format('CREATE TABLE features_l%s PARTITION OF features FOR VALUES IN (%s)', layer, layer);
    END LOOP;
END
$$;
INSERT INTO features (id, layer_id, geom, cadastral, properties)
    SELECT id, layer_id, geom, cadastral, properties FROM features_unpartitioned ORDER BY layer_id, id;
DROP TABLE features_unpartitioned;
-- The old identity went with its table: the name is free again.
ALTER SEQUENCE features_ids RENAME TO features_id_seq;

-- The index definitions are also in src/store/postgis/partitions.rs, which
-- builds them on a new partition before attaching it; they must stay equal
-- (ATTACH PARTITION adopts an equal index and silently builds another one otherwise).
ALTER TABLE features ADD CONSTRAINT features_pkey PRIMARY KEY (layer_id, id);
CREATE INDEX features_geom_idx ON features USING gist (geom);
-- Looks a parcel up by number; unique within a layer (see above for store-wide).
CREATE UNIQUE INDEX features_cadastral_idx ON features (cadastral, layer_id) WHERE cadastral IS NOT NULL;
