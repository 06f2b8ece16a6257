-- Delivery riders and VTC drivers of one level ({key} of stg_iris), counted from the located
-- establishments: an IRIS's count is summed up the hierarchy, so every level adds up.
CREATE OR REPLACE TABLE pf_{level} AS
SELECT s.{key} AS code,
       count(*) FILTER (p.profession = 'livreurs') AS livreurs,
       count(*) FILTER (p.profession = 'vtc') AS vtc
FROM pf_localises p
JOIN (SELECT *, 'FR' AS code_france FROM stg_iris) s USING (code_iris)
WHERE s.{key} IS NOT NULL
GROUP BY s.{key};
