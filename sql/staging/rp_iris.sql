-- Staging, IRIS level, from the INSEE RP bases, Filosofi and the EPCI composition file.
--
-- Why this shape: one row per IRIS of the census *or* of CONTOURS-IRIS, so that an IRIS missing
-- from one of them is still seen (and rejected with a reason) instead of vanishing in an inner
-- join. Counts stay NULL when a source is silent: a secret cell is not a zero.
-- Hierarchy: the EPCI file is the authority; the census's own DEP/REG, then the code itself,
-- fill in for communes it does not list.
-- Income and poverty: the IRIS value when Filosofi publishes the IRIS; the commune's value for
-- IRIS of communes Filosofi does not split (small communes); NULL for a secret IRIS of a split
-- commune (never the commune value, which would be a different population).
CREATE OR REPLACE TABLE stg_iris AS
WITH universe AS (
    SELECT code_iris FROM raw_rp_population
    UNION
    SELECT code_iris FROM raw_contours_iris
),
filo_split AS (
    SELECT DISTINCT substr(code_iris, 1, 5) AS code_commune FROM raw_filosofi_iris
)
SELECT
    u.code_iris,
    coalesce(c.nom_iris, p.libiris)                          AS nom_iris,
    coalesce(p.typ_iris, c.typ_iris)                         AS typ_iris,
    coalesce(p.code_commune, c.code_commune)                 AS code_commune,
    coalesce(h.nom_commune, p.libcom, c.nom_commune)         AS nom_commune,
    h.code_epci,
    h.nom_epci,
    coalesce(h.code_departement, p.dep,
             CASE WHEN u.code_iris LIKE '97%' THEN substr(u.code_iris, 1, 3)
                  ELSE substr(u.code_iris, 1, 2) END)        AS code_departement,
    coalesce(h.code_region, lpad(p.reg, 2, '0'))             AS code_region,
    p.code_iris IS NOT NULL                                  AS in_rp,
    c.code_iris IS NOT NULL                                  AS in_contours,
    p.pop                                                    AS population,
    p.pop1529,
    p.pop65p,
    p.pop6074 + p.pop75p                                     AS pop60p,
    f.men,
    f.menpseul,
    f.fam,
    f.fammono,
    d.nscol15p,
    d.nscol15p_diplmin + d.nscol15p_bepc                     AS nscol15p_peu_dipl,
    a.chom1564,
    a.act1564,
    a.actocc15p,
    CASE WHEN fi.code_iris IS NOT NULL THEN fi.disp_med
         WHEN s.code_commune IS NULL THEN fc.med END         AS revenu_median,
    CASE WHEN fi.code_iris IS NOT NULL THEN fi.disp_tp60
         WHEN s.code_commune IS NULL THEN fc.tp60 END        AS taux_pauvrete,
    CASE WHEN fi.code_iris IS NOT NULL THEN 'iris'
         WHEN s.code_commune IS NULL AND fc.code_commune IS NOT NULL THEN 'commune' END
                                                             AS source_revenu
FROM universe u
LEFT JOIN raw_rp_population p USING (code_iris)
LEFT JOIN raw_contours_iris c USING (code_iris)
LEFT JOIN raw_rp_familles f USING (code_iris)
LEFT JOIN raw_rp_diplomes d USING (code_iris)
LEFT JOIN raw_rp_activite a USING (code_iris)
LEFT JOIN raw_filosofi_iris fi USING (code_iris)
LEFT JOIN raw_epci_composition h ON h.code_commune = coalesce(p.code_commune, c.code_commune)
LEFT JOIN filo_split s ON s.code_commune = coalesce(p.code_commune, c.code_commune)
LEFT JOIN raw_filosofi_communes fc ON fc.code_commune = coalesce(p.code_commune, c.code_commune);

-- Communal Filosofi values, for the communes layer (a median cannot be rebuilt from IRIS).
CREATE OR REPLACE TABLE stg_communes_revenus AS
SELECT code_commune, med AS revenu_median, tp60 AS taux_pauvrete FROM raw_filosofi_communes;
