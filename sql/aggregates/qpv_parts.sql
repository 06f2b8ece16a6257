-- IRIS counts carried into the QPVs by the IRIS x QPV weights (table poids: code_iris, code_qpv,
-- poids), ready for aggregates/ifn_counts.sql with key code_qpv.
--
-- Why numerators and denominators are multiplied, never rates: a QPV's rate is then the ratio
-- of its allocated counts, exactly as for every other level, and the sum over QPVs of an
-- allocated count never exceeds the IRIS total it came from (weights of an IRIS sum to <= 1).
-- The IRIS's median income travels as is: revenu_median.sql weighs it by allocated population.
CREATE OR REPLACE TABLE qpv_parts AS
SELECT
    w.code_qpv,
    c.code_iris, c.nom_commune, c.code_commune, c.code_epci, c.nom_epci, c.code_departement,
    c.code_region, c.code_france,
    w.poids * COLUMNS('^((num|den)_.*|population|actifs_occupes)$') AS '\1',
    c.val_revenu_median
FROM poids w
JOIN cnt_iris c USING (code_iris)
WHERE w.poids > 0;
