-- ifn-2023's commune figures, per IRIS ({eligibles}: the column of stg_arcep_communes holding the
-- premises eligible at the THD speed or more, 30 Mbit/s unless --debit-thd says otherwise).
--
-- Why per IRIS: ifn-2023 ranks IRIS (and communes not split), and the 2023 portal gives every IRIS
-- of a commune its commune's THD score (METHODS 1.4), so an IRIS takes its commune's THD
-- non-coverage rate (`val_`). It also holds its share of the commune's premises, all and below the
-- speed (the households' share of couverture_fixe_iris.sql), so that communes, EPCI, départements
-- and régions pool premises exactly as ARCEP counts them (Paris, Lyon and Marseille, published whole
-- by ARCEP, spread over their arrondissements).
-- THD needs ARCEP's speed classes: an FttH-only file gives none (FttH is only part of 30 Mbit/s or
-- more), and the THD non-coverage stays NULL.
-- 4G: the share covered that the user gives per commune (indicateurs_communes, `couverture_4g`),
-- turned into non-coverage; no source of it is read here.
CREATE OR REPLACE TABLE ifn2023_iris AS
SELECT
    i.code_iris,
    (a.locaux - a.{eligibles}) * f.part                                      AS num_non_couverture_thd,
    CASE WHEN a.{eligibles} IS NOT NULL THEN a.locaux * f.part END           AS den_non_couverture_thd,
    CASE WHEN a.locaux > 0 THEN (a.locaux - a.{eligibles}) / a.locaux END    AS val_non_couverture_thd,
    1 - u.valeur                                                             AS val_non_couverture_4g
FROM stg_iris i
LEFT JOIN iris_couverture_fixe f USING (code_iris)
LEFT JOIN stg_arcep_communes a ON a.code_commune = arcep_ville(i.code_commune)
LEFT JOIN stg_indicateurs_communes u ON u.code_commune = i.code_commune AND u.indicateur = 'couverture_4g'
WHERE i.in_rp
ORDER BY i.code_iris;
