-- IFN numerators and denominators per IRIS (METHODS 1.1-1.3).
--
-- Why numerators and denominators rather than rates: every level above the IRIS (commune, EPCI,
-- département, région, QPV) is scored from summed counts, never from averaged rates, and pooled
-- thresholds are sum(num) / sum(den) over the reference territory.
-- Poverty: Filosofi publishes a rate, not counts; its numerator is rate x census population, an
-- approximation (fiscal and census populations differ) written down in the dictionary.
-- Fixed coverage and public services come shared out to the IRIS by couverture_fixe_iris.sql and
-- services_publics_iris.sql (empty tables when a run has no ARCEP or BPE file). Mobile coverage
-- has no source: NULL unless the user's commune figures give it (indicateurs_communes_iris.sql,
-- run after this). NULL columns keep the layer contract whatever the inputs.
CREATE OR REPLACE TABLE cnt_iris AS
SELECT
    i.code_iris, i.nom_iris, i.typ_iris, i.code_commune, i.nom_commune, i.code_epci, i.nom_epci,
    i.code_departement, i.code_region, 'FR' AS code_france, i.in_rp, i.in_contours, i.source_revenu,
    i.population,
    cf.num_couverture_fixe,
    cf.den_couverture_fixe,
    CAST(NULL AS DOUBLE)                                   AS num_couverture_mobile,
    CAST(NULL AS DOUBLE)                                   AS den_couverture_mobile,
    i.taux_pauvrete * i.population                         AS num_taux_pauvrete,
    CASE WHEN i.taux_pauvrete IS NOT NULL THEN i.population END AS den_taux_pauvrete,
    i.revenu_median                                        AS val_revenu_median,
    i.fammono                                              AS num_familles_monoparentales,
    i.fam                                                  AS den_familles_monoparentales,
    i.menpseul                                             AS num_menages_une_personne,
    i.men                                                  AS den_menages_une_personne,
    sp.num_services_publics,
    CASE WHEN sp.num_services_publics IS NOT NULL THEN i.population END AS den_services_publics,
    i.chom1564                                             AS num_chomeurs_15_64,
    i.act1564                                              AS den_chomeurs_15_64,
    i.pop1529                                              AS num_personnes_15_29,
    i.population                                           AS den_personnes_15_29,
    i.pop65p                                               AS num_personnes_65_plus,
    i.population                                           AS den_personnes_65_plus,
    i.nscol15p_peu_dipl                                    AS num_peu_diplomes,
    i.nscol15p                                             AS den_peu_diplomes,
    i.actocc15p                                            AS actifs_occupes,
    -- not an IFN indicator: the yardstick INSEE publishes by QPV (share of 60+)
    i.pop60p                                               AS num_part_60_plus,
    CASE WHEN i.pop60p IS NOT NULL THEN i.population END   AS den_part_60_plus
FROM stg_iris i
LEFT JOIN iris_couverture_fixe cf USING (code_iris)
LEFT JOIN iris_services_publics sp USING (code_iris)
WHERE i.in_rp;
