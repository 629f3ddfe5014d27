-- The problem's own output validator (protobuf OutputValidator); NULL means the default one.
ALTER TABLE problems ADD COLUMN output_validator BYTEA;
