-- Fixed coverage per IRIS, from ARCEP's commune counts ({eligibles}: the column of
-- stg_arcep_communes holding the premises eligible at the run's speed or more).
--
-- Why: ARCEP counts premises per commune only. Each IRIS of a commune takes one share of the
-- commune's premises and the same share of its eligible premises, so that every IRIS shows the
-- commune's rate, the IRIS add up to ARCEP's commune counts exactly, and the levels above pool
-- premises like every other count. The share is the IRIS's part of the commune's households (RP
-- ménages, i.e. occupied dwellings: the census count closest to premises), of its population
-- where the commune has no household counted, equal parts where it has neither. An IRIS with no
-- household in a commune that has some gets no premises: no rate of its own (NULL), which is
-- right for an activity IRIS where nobody lives.
-- FttH-only file: its connectable premises, capped at the premises (ARCEP's two counts come
-- from different sources: the first exceeds the second in 689 communes of T1 2018).
CREATE OR REPLACE TABLE iris_couverture_fixe AS
WITH units AS (
    SELECT code_iris, arcep_ville(code_commune) AS code_ville,
           coalesce(men, 0) AS men, coalesce(population, 0) AS pop
    FROM stg_iris
    WHERE in_rp
),
totals AS (
    SELECT code_ville, sum(men) AS men, sum(pop) AS pop, count(*) AS n FROM units GROUP BY code_ville
)
SELECT
    u.code_iris,
    CASE WHEN t.men > 0 THEN u.men / t.men WHEN t.pop > 0 THEN u.pop / t.pop ELSE 1.0 / t.n END AS part,
    coalesce(a.{eligibles}, least(a.locaux_ftth, a.locaux)) * part    AS num_couverture_fixe,
    CASE WHEN coalesce(a.{eligibles}, a.locaux_ftth) IS NOT NULL THEN a.locaux * part END AS den_couverture_fixe
FROM units u
JOIN totals t USING (code_ville)
JOIN stg_arcep_communes a ON a.code_commune = u.code_ville;

-- ARCEP communes that match no commune of the run (another geography: communes nouvelles after
-- the census's, absorbed communes listed with 0 premises, territories not loaded): reported.
CREATE OR REPLACE TABLE arcep_non_rattaches AS
SELECT a.code_commune AS code, a.locaux AS quantite
FROM stg_arcep_communes a
WHERE a.code_commune NOT IN (SELECT arcep_ville(code_commune) FROM stg_iris WHERE in_rp AND code_commune IS NOT NULL);
