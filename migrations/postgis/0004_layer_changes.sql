-- Change notifications: every committed change to a layer's features (or to
-- whether the layer exists) tells the servers listening on channel
-- `imgis_layers` which layer and which version, so several imgis instances over
-- one database bring their indexes in step within moments instead of polling
-- (src/store/postgis/notify.rs listens, src/app follows).
-- Append-only: a migration that has been applied is never edited; change the schema in a new file.
--
-- Payload: JSON {"code": "<layer code>", "version": <version>}; a null version
-- says the layer no longer exists.
--
-- Exactly one notification per layer per committed transaction:
-- - the trigger is deferred to commit and reads the layer's row as the
--   transaction leaves it, so every firing of one transaction for one layer
--   sends the same payload (an import inserts the row, narrows its geometry
--   type and bumps its version: three row events), and PostgreSQL delivers
--   identical notifications of one transaction once;
-- - a rolled-back transaction (a failed or killed import) sends nothing:
--   notifications leave only at commit.
-- Only version changes notify: every write of features bumps the version in
-- its transaction (src/store/postgis/mod.rs `record_write`), and the version
-- is all a listening index compares.

CREATE FUNCTION layers_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    layer_code    text;
    layer_version bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        layer_code := OLD.code;
    ELSE
        layer_code := NEW.code;
    END IF;
    -- By code, not id: a layer deleted and made again in one transaction is
    -- one change of that code, as a listener sees it.
    SELECT version INTO layer_version FROM layers WHERE code = layer_code;
    PERFORM pg_notify('imgis_layers',
                      json_build_object('code', layer_code, 'version', layer_version)::text);
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER layers_notify_change
    AFTER INSERT OR DELETE OR UPDATE OF version ON layers
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION layers_notify_change();
