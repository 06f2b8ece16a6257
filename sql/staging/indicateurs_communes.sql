-- The commune figures the user gives (--input indicateurs_communes=FILE), one row per commune and
-- indicator, blank cells left out by the reader.
--
-- Why a table of their own: they are applied after the sources' counts (indicateurs_communes_iris
-- .sql) so that a value replaces the source's for its commune only; which communes of the file
-- match no commune of the run is reported, like ARCEP's and the BPE's.
CREATE OR REPLACE TABLE stg_indicateurs_communes AS
SELECT code_commune, indicateur, valeur, fichier
FROM raw_indicateurs_communes
WHERE valeur IS NOT NULL;
