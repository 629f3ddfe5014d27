-- Limits of the compiler and the output validator, from problem.yaml (rows from before
-- keep the limits that were built in then).
ALTER TABLE problems ADD COLUMN compile_time_limit_ms BIGINT NOT NULL DEFAULT 30000;
ALTER TABLE problems ADD COLUMN compile_memory_limit_bytes BIGINT NOT NULL DEFAULT 2147483648;
ALTER TABLE problems ADD COLUMN validator_time_limit_ms BIGINT NOT NULL DEFAULT 60000;
ALTER TABLE problems ADD COLUMN validator_memory_limit_bytes BIGINT NOT NULL DEFAULT 2147483648;
