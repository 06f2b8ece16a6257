-- IFN counts of one territory level, summed from IRIS rows ({source}: cnt_iris, or qpv_parts, the
-- IRIS counts times their QPV weights; {key}: code_commune, code_epci, code_departement,
-- code_region, code_france or code_qpv; {table}: the table it writes).
--
-- Why: METHODS 1.3, aggregated units are scored from the sums of numerators and denominators,
-- never by averaging IRIS scores. A pair is summed only over IRIS where both parts are known, so a
-- secret IRIS does not bias the rate of its commune.
-- Parents: a unit's EPCI, département and région are those of most of its population (arg_max),
-- which is exact for nested units and a stated choice for an EPCI across two départements.
-- Pooled thresholds (METHODS 1.2: sum(num) / sum(den) over the reference territory) are these
-- same sums at the reference level, so there is no second implementation of them.
CREATE OR REPLACE TABLE {table} AS
SELECT
    {key}                                         AS code,
    arg_max(nom_commune, population)              AS nom_commune,
    arg_max(code_commune, population)             AS code_commune,
    arg_max(code_epci, population)                AS code_epci,
    arg_max(nom_epci, population)                 AS nom_epci,
    arg_max(code_departement, population)         AS code_departement,
    arg_max(code_region, population)              AS code_region,
    'FR'                                          AS code_france,
    count(*)                                      AS n_iris,
    sum(population)                               AS population,
    sum(actifs_occupes)                           AS actifs_occupes,
    sum(num_couverture_fixe) FILTER (den_couverture_fixe IS NOT NULL)                 AS num_couverture_fixe,
    sum(den_couverture_fixe) FILTER (num_couverture_fixe IS NOT NULL)                 AS den_couverture_fixe,
    sum(num_couverture_mobile) FILTER (den_couverture_mobile IS NOT NULL)             AS num_couverture_mobile,
    sum(den_couverture_mobile) FILTER (num_couverture_mobile IS NOT NULL)             AS den_couverture_mobile,
    sum(num_taux_pauvrete) FILTER (den_taux_pauvrete IS NOT NULL)                     AS num_taux_pauvrete,
    sum(den_taux_pauvrete) FILTER (num_taux_pauvrete IS NOT NULL)                     AS den_taux_pauvrete,
    sum(num_familles_monoparentales) FILTER (den_familles_monoparentales IS NOT NULL) AS num_familles_monoparentales,
    sum(den_familles_monoparentales) FILTER (num_familles_monoparentales IS NOT NULL) AS den_familles_monoparentales,
    sum(num_menages_une_personne) FILTER (den_menages_une_personne IS NOT NULL)       AS num_menages_une_personne,
    sum(den_menages_une_personne) FILTER (num_menages_une_personne IS NOT NULL)       AS den_menages_une_personne,
    sum(num_services_publics) FILTER (den_services_publics IS NOT NULL)               AS num_services_publics,
    sum(den_services_publics) FILTER (num_services_publics IS NOT NULL)               AS den_services_publics,
    sum(num_chomeurs_15_64) FILTER (den_chomeurs_15_64 IS NOT NULL)                   AS num_chomeurs_15_64,
    sum(den_chomeurs_15_64) FILTER (num_chomeurs_15_64 IS NOT NULL)                   AS den_chomeurs_15_64,
    sum(num_personnes_15_29) FILTER (den_personnes_15_29 IS NOT NULL)                 AS num_personnes_15_29,
    sum(den_personnes_15_29) FILTER (num_personnes_15_29 IS NOT NULL)                 AS den_personnes_15_29,
    sum(num_personnes_65_plus) FILTER (den_personnes_65_plus IS NOT NULL)             AS num_personnes_65_plus,
    sum(den_personnes_65_plus) FILTER (num_personnes_65_plus IS NOT NULL)             AS den_personnes_65_plus,
    sum(num_peu_diplomes) FILTER (den_peu_diplomes IS NOT NULL)                       AS num_peu_diplomes,
    sum(den_peu_diplomes) FILTER (num_peu_diplomes IS NOT NULL)                       AS den_peu_diplomes,
    sum(num_part_60_plus) FILTER (den_part_60_plus IS NOT NULL)                       AS num_part_60_plus,
    sum(den_part_60_plus) FILTER (num_part_60_plus IS NOT NULL)                       AS den_part_60_plus
FROM {source}
WHERE {key} IS NOT NULL
GROUP BY {key};
