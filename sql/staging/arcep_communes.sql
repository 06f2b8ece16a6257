-- Staging of ARCEP's fixed broadband counts, one row per commune of ARCEP's file.
--
-- Why one row per commune: ARCEP publishes premises (dwellings and business premises) by best
-- available download speed per commune, nothing finer. The two sheets of the FttH export come as
-- two files (premises; connectable premises) that sum into one row; the reader refuses a commune
-- twice in one file and compute refuses it twice in one format across files.
-- The per-class counts keep ARCEP's names, and `eligibles_<speed>` are the premises eligible at
-- that speed or more (the classes at or above it), so that any method picks its own speed
-- (kit: 3 Mbit/s; the 2023 portal's THD: 30 Mbit/s) without restaging. An FttH-only file has no
-- classes: its connectable premises stand in (capped at the premises, see couverture_fixe_iris).
-- Paris, Lyon and Marseille are published whole (75056, 69123, 13055) while the census counts
-- their arrondissements: `code_ville` is the code ARCEP uses for a census commune.
CREATE OR REPLACE TABLE stg_arcep_communes AS
SELECT
    code_commune,
    sum(locaux)                                                         AS locaux,
    sum(inel_hd) AS inel_hd, sum(elig_hd05) AS elig_hd05, sum(elig_hd3) AS elig_hd3,
    sum(elig_hd8) AS elig_hd8, sum(elig_thd30) AS elig_thd30, sum(elig_thd100) AS elig_thd100,
    sum(elig_thd1g) AS elig_thd1g,
    sum(elig_hd05 + elig_hd3 + elig_hd8 + elig_thd30 + elig_thd100 + elig_thd1g) AS eligibles_0_5,
    sum(elig_hd3 + elig_hd8 + elig_thd30 + elig_thd100 + elig_thd1g)    AS eligibles_3,
    sum(elig_hd8 + elig_thd30 + elig_thd100 + elig_thd1g)               AS eligibles_8,
    sum(elig_thd30 + elig_thd100 + elig_thd1g)                          AS eligibles_30,
    sum(elig_thd100 + elig_thd1g)                                       AS eligibles_100,
    sum(elig_thd1g)                                                     AS eligibles_1000,
    sum(locaux_ftth)                                                    AS locaux_ftth,
    max(format)                                                         AS format,
    max(date_arcep)                                                     AS date_arcep
FROM raw_arcep_fixe
GROUP BY code_commune;

CREATE OR REPLACE MACRO arcep_ville(c) AS
    CASE WHEN c BETWEEN '75101' AND '75120' THEN '75056'
         WHEN c BETWEEN '69381' AND '69389' THEN '69123'
         WHEN c BETWEEN '13201' AND '13216' THEN '13055'
         ELSE c END;
