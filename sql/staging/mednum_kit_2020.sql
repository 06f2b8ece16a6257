-- Staging, IRIS level, from the MedNum 2020 national IFN file alone.
--
-- Why: a run fed only this file reproduces the published 2020 scores, so the counts, the
-- hierarchy and the income come from the file itself (RP 2016 counts, Filosofi 2015 communal
-- median for every IRIS of the commune), exactly as MedNum used them.
CREATE OR REPLACE TABLE stg_iris AS
SELECT
    code_iris, nom_iris, typ_iris, code_commune, nom_commune, code_epci, nom_epci,
    code_departement, code_region,
    TRUE                   AS in_rp,
    TRUE                   AS in_contours,
    population, pop1529, pop65p, CAST(NULL AS DOUBLE) AS pop60p, men, menpseul, fam, fammono,
    nscol15p,
    nscol15p_diplmin       AS nscol15p_peu_dipl,   -- RP 2016: DIPLMIN still includes BEPC
    CAST(NULL AS DOUBLE)   AS chom1564,
    CAST(NULL AS DOUBLE)   AS act1564,
    CAST(NULL AS DOUBLE)   AS actocc15p,
    med_commune            AS revenu_median,
    CAST(NULL AS DOUBLE)   AS taux_pauvrete,
    CASE WHEN med_commune IS NOT NULL THEN 'commune' END AS source_revenu
FROM raw_mednum_kit_2020;

CREATE OR REPLACE TABLE stg_communes_revenus AS
SELECT code_commune, any_value(med_commune) AS revenu_median, CAST(NULL AS DOUBLE) AS taux_pauvrete
FROM raw_mednum_kit_2020
GROUP BY code_commune;
