-- A median income the user gives for a commune: every IRIS of the commune and the commune itself
-- take it (a median is not a count: no numerator to share).
--
-- Why also stg_communes_revenus: the communes layer takes Filosofi's communal median from there
-- before any median rebuilt from IRIS (aggregates/revenu_communes.sql).
UPDATE cnt_iris SET val_revenu_median = v.valeur
FROM stg_indicateurs_communes v
WHERE v.code_commune = cnt_iris.code_commune AND v.indicateur = 'revenu_median';

CREATE OR REPLACE TABLE stg_communes_revenus AS
SELECT coalesce(f.code_commune, v.code_commune) AS code_commune,
       coalesce(v.valeur, f.revenu_median) AS revenu_median, f.taux_pauvrete
FROM stg_communes_revenus f
FULL JOIN (SELECT code_commune, valeur FROM stg_indicateurs_communes WHERE indicateur = 'revenu_median') v
    ON v.code_commune = f.code_commune;
