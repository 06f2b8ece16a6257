-- The COG's département and région tables (names, région of each département), from the
-- package's resources: the census files give codes, and an IRIS-only run still needs the names
-- and the département -> région chain to pool thresholds by région.
CREATE OR REPLACE TABLE cog_departements AS
SELECT * FROM read_csv($departements, delim = ';', header = true, all_varchar = true);
CREATE OR REPLACE TABLE cog_regions AS
SELECT * FROM read_csv($regions, delim = ';', header = true, all_varchar = true)
