-- Each kept establishment with its IRIS and QPV and the path that placed it.
--
-- Why the IRIS code must exist in the run's geography: an INSEE code of a newer IRIS geography
-- than the contours would count people in no polygon; such a point goes through the polygons,
-- and an establishment placed nowhere is reported as unlocated, never dropped silently.
CREATE OR REPLACE TABLE pf_localises AS
WITH u AS (SELECT code_iris FROM stg_iris)
SELECT p.siret, p.profession, p.code_commune, p.anomalie,
    CASE WHEN p.iris_insee IN (SELECT code_iris FROM u) THEN p.iris_insee
         WHEN z.iris_polygone IN (SELECT code_iris FROM u) THEN z.iris_polygone END AS code_iris,
    CASE WHEN p.iris_insee IN (SELECT code_iris FROM u) THEN 'insee'
         WHEN z.iris_polygone IN (SELECT code_iris FROM u) THEN 'polygone'
         ELSE 'non localisé' END AS chemin_iris,
    coalesce(p.qpv_insee, z.qpv_polygone) AS code_qpv,
    CASE WHEN p.qpv_insee IS NOT NULL THEN 'insee' WHEN z.qpv_polygone IS NOT NULL THEN 'polygone'
         ELSE 'non localisé' END AS chemin_qpv,
    z.iris_polygone, z.qpv_polygone, p.iris_insee, p.qpv_insee
FROM pf_points p
LEFT JOIN pf_poly z USING (siret);
